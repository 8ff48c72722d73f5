/**
 * Limits: what a caller asks for (`rate` events per `period` ms with a
 * `burst`), the helpers that build them, and their validated integer form
 * (emission interval T and tolerance tau, in microseconds) that the stores use.
 */
import { ErrorCodes, LimiterError, describe } from './errors.js';
import { MAX_SAFE, floorDiv } from './intmath.js';

/** A rate limit: `rate` events per `period` milliseconds, with up to `burst` at once. */
export interface Limit {
  /** Events allowed per period: an integer >= 1. */
  readonly rate: number;
  /** Length of the period in milliseconds: a finite number > 0 (resolution 1 µs). */
  readonly period: number;
  /** Bucket capacity: an integer >= 1. Defaults to `rate`. */
  readonly burst?: number;
  /** Optional name, used by headers and metrics (e.g. `"user"`, `"tenant"`). */
  readonly name?: string;
}

/** A validated limit in integer microseconds, as the algorithm uses it. */
export interface ResolvedLimit {
  /** The limit as given. */
  readonly limit: Limit;
  /** Burst B (defaulted). */
  readonly burst: number;
  /** Emission interval T = max(1, round_half_up(period_us / rate)), µs. */
  readonly interval: number;
  /** Tolerance tau = T * B, µs: the time to refill a whole burst. */
  readonly tolerance: number;
}

const resolved = new WeakMap<Limit, ResolvedLimit>();

function invalid(field: string, value: unknown, allowed: string): LimiterError {
  return new LimiterError(ErrorCodes.INVALID_LIMIT, `limit.${field} must be ${allowed}, got ${describe(value)}`);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Validates a limit and computes its integer form. Throws a
 * {@link LimiterError} with code `ERR_INVALID_LIMIT` naming the field.
 * Results are cached per limit object.
 */
export function resolveLimit(limit: Limit): ResolvedLimit {
  if (typeof limit !== 'object' || limit === null) {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, `limit must be an object { rate, period, burst? }, got ${describe(limit)}`);
  }
  const cached = resolved.get(limit);
  if (cached) return cached;
  if ((limit as { kind?: unknown }).kind === 'concurrency') {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, 'a concurrency limit is checked with acquire() or in allowAll(), not as a rate limit');
  }
  const { rate, period, burst = rate, name } = limit;
  if (!isPositiveInteger(rate)) throw invalid('rate', rate, 'an integer >= 1');
  if (typeof period !== 'number' || !Number.isFinite(period) || period <= 0) {
    throw invalid('period', period, 'a finite number of milliseconds > 0');
  }
  if (!isPositiveInteger(burst)) throw invalid('burst', burst, 'an integer >= 1');
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
    throw invalid('name', name, 'a non-empty string when given');
  }
  const periodUs = Math.round(period * 1000);
  if (periodUs < 1) throw invalid('period', period, 'at least 0.001 ms (1 µs)');
  if (2 * periodUs + rate >= MAX_SAFE) throw invalid('period', period, 'below 2^52 µs');
  const interval = Math.max(1, floorDiv(2 * periodUs + rate, 2 * rate));
  const tolerance = interval * burst;
  if (tolerance >= MAX_SAFE) {
    throw new LimiterError(
      ErrorCodes.OVERFLOW,
      `limit burst * interval must stay below 2^53 µs, got burst ${burst} * ${interval} µs`,
    );
  }
  const result: ResolvedLimit = { limit, burst, interval, tolerance };
  resolved.set(limit, result);
  return result;
}

function build(rate: number, period: number, burst?: number): Limit {
  const limit: Limit = burst === undefined ? { rate, period } : { rate, period, burst };
  resolveLimit(limit);
  return Object.freeze(limit);
}

/** `rate` events per second, with an optional burst (default: `rate`). */
export function perSecond(rate: number, burst?: number): Limit {
  return build(rate, 1000, burst);
}

/** `rate` events per minute, with an optional burst (default: `rate`). */
export function perMinute(rate: number, burst?: number): Limit {
  return build(rate, 60_000, burst);
}

/** `rate` events per hour, with an optional burst (default: `rate`). */
export function perHour(rate: number, burst?: number): Limit {
  return build(rate, 3_600_000, burst);
}

/** `rate` events per day, with an optional burst (default: `rate`). */
export function perDay(rate: number, burst?: number): Limit {
  return build(rate, 86_400_000, burst);
}
