/**
 * Concurrency limits: at most `max` leases of a key held at once, each
 * expiring on its own `ttl` ms after it was taken or last extended. The
 * builder {@link concurrency}, and the validated integer form the stores use.
 */
import { type ErrorCode, ErrorCodes, LimiterError, describe } from './errors.js';
import { MAX_SAFE } from './intmath.js';
import type { Limit } from './limits.js';
import type { Quota } from './quotas.js';

/** A concurrency limit: at most `max` leases at once per key, each living `ttl` ms unless extended. */
export interface ConcurrencyLimit {
  /** Tells it from a rate limit. */
  readonly kind: 'concurrency';
  /** Most leases held at once: an integer >= 1. */
  readonly max: number;
  /** ms a lease lives unless released or extended: a finite number > 0 (resolution 1 µs). */
  readonly ttl: number;
  /** Optional name, used by metrics (e.g. `"reports"`). */
  readonly name?: string;
}

/** Anything a key can be limited by: a rate limit, a concurrency limit or a calendar quota. */
export type AnyLimit = Limit | ConcurrencyLimit | Quota;

/** Options of {@link concurrency}. */
export interface ConcurrencyOptions {
  /** ms a lease lives unless released or extended (required: how long a crashed holder keeps its slot). */
  readonly ttl: number;
  /** Optional name, used by metrics. */
  readonly name?: string;
}

/** A validated concurrency limit in integer microseconds. */
export interface ResolvedConcurrency {
  /** The limit as given. */
  readonly limit: ConcurrencyLimit;
  /** Most leases at once. */
  readonly max: number;
  /** Lease lifetime in µs (>= 1). */
  readonly ttl: number;
}

/** Longest lease lifetime in µs: twice it (a key is kept one ttl past its newest lease) leaves 2^53 headroom for today's time, doubled. */
const MAX_TTL_US = Math.floor((MAX_SAFE - Date.now() * 1000 * 2) / 2);

const resolved = new WeakMap<ConcurrencyLimit, ResolvedConcurrency>();

/** True when `limit` is a concurrency limit (rather than a rate limit). */
export function isConcurrencyLimit(limit: unknown): limit is ConcurrencyLimit {
  return typeof limit === 'object' && limit !== null && (limit as { kind?: unknown }).kind === 'concurrency';
}

/** Validates a lease lifetime in ms (`field` names it in the error) and returns it in µs. */
export function ttlMicros(ttl: unknown, field: string, code: ErrorCode = ErrorCodes.INVALID_LIMIT): number {
  const us = typeof ttl === 'number' && Number.isFinite(ttl) ? Math.round(ttl * 1000) : NaN;
  if (!(us >= 1 && us < MAX_TTL_US)) {
    throw new LimiterError(code, `${field} must be a finite number of ms, at least 0.001 (1 µs) and below ${Math.floor(MAX_TTL_US / 1000)}, got ${describe(ttl)}`);
  }
  return us;
}

/**
 * Validates a concurrency limit and computes its integer form. Throws a
 * {@link LimiterError} with code `ERR_INVALID_LIMIT` naming the field.
 * Results are cached per limit object.
 */
export function resolveConcurrency(limit: ConcurrencyLimit): ResolvedConcurrency {
  const cached = resolved.get(limit);
  if (cached) return cached;
  const { max, ttl, name } = limit;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, `limit.max (leases at once) must be an integer >= 1, got ${describe(max)}`);
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, `limit.name must be a non-empty string when given, got ${describe(name)}`);
  }
  const result: ResolvedConcurrency = { limit, max, ttl: ttlMicros(ttl, 'limit.ttl') };
  resolved.set(limit, result);
  return result;
}

/** At most `max` leases per key at once, each living `options.ttl` ms unless released or extended. */
export function concurrency(max: number, options: ConcurrencyOptions): ConcurrencyLimit {
  if (typeof options !== 'object' || options === null) {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, `concurrency(max, options) needs options { ttl, name? }, got ${describe(options)}`);
  }
  const limit: ConcurrencyLimit = options.name === undefined ? { kind: 'concurrency', max, ttl: options.ttl } : { kind: 'concurrency', max, ttl: options.ttl, name: options.name };
  resolveConcurrency(limit);
  return Object.freeze(limit);
}
