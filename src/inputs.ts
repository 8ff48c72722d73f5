/**
 * Validation of per-call inputs (keys and costs), per SPEC section 7. Each
 * function throws a LimiterError naming the field, the value and what is allowed.
 */
import { ErrorCodes, LimiterError, describe } from './errors.js';
import { MAX_SAFE } from './intmath.js';
import type { ResolvedLimit } from './limits.js';

/** Room below 2^53 µs left once today's time (doubled, for decades of margin) is taken out; fixed at load. */
const HEADROOM = MAX_SAFE - Date.now() * 1000 * 2;

/**
 * Longest key accepted, in UTF-16 code units (JavaScript `string.length`,
 * before the store's prefix): 1024 units are at most 3072 UTF-8 bytes in Redis.
 */
export const MAX_KEY_LENGTH = 1024;

/** `String.prototype.isWellFormed` (Node >= 20; typed here because the compile target's lib predates it). */
const wellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/** True when `key` holds no lone surrogate, i.e. it encodes to UTF-8 losslessly. */
export function isWellFormedKey(key: string): boolean {
  return wellFormed.call(key);
}

/**
 * Throws ERR_INVALID_KEY unless `key` is a non-empty, well-formed Unicode
 * string of at most MAX_KEY_LENGTH UTF-16 code units. A lone surrogate would
 * reach Redis as U+FFFD, so two different keys would share one bucket there
 * but not in-process: such keys are refused in every store alike.
 */
export function checkKey(key: unknown, field = 'key'): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new LimiterError(
      ErrorCodes.INVALID_KEY,
      `${field} must be a non-empty string of at most ${MAX_KEY_LENGTH} UTF-16 code units, got ${typeof key === 'string' ? `a string of length ${key.length}` : describe(key)}`,
    );
  }
  if (!wellFormed.call(key)) throw malformedKey(field, key);
  return key;
}

/** The ERR_INVALID_KEY error of a key holding a lone surrogate. */
export function malformedKey(field: string, key: string): LimiterError {
  const at = key.search(/\p{Cs}/u);
  return new LimiterError(
    ErrorCodes.INVALID_KEY,
    `${field} must be well-formed Unicode, got a lone surrogate U+${key.charCodeAt(at).toString(16).toUpperCase()} at index ${at} of ${describe(key)}`,
  );
}

/** Throws ERR_INVALID_COST unless `cost` is an integer >= min; ERR_OVERFLOW when cost * T passes 2^53 headroom. */
export function checkCost(cost: unknown, limit: ResolvedLimit, field = 'cost', min = 0): number {
  if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < min) {
    throw new LimiterError(ErrorCodes.INVALID_COST, `${field} must be an integer >= ${min}, got ${describe(cost)}`);
  }
  // The store also checks against its exact `now`; here we leave headroom for the clock.
  if (cost * limit.interval + limit.tolerance >= HEADROOM) {
    throw new LimiterError(
      ErrorCodes.OVERFLOW,
      `${field} ${cost} times the emission interval ${limit.interval} µs plus the tolerance would pass 2^53 µs`,
    );
  }
  return cost;
}
