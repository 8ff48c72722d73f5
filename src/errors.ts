/**
 * The one error class of tollgate. Every failure carries a stable `code` that
 * callers can switch on; messages name the offending field, its value and
 * what is allowed. A denial is never an error: it is a normal result.
 */

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export const ErrorCodes = {
  /** A limit's rate, burst or period is missing, not an integer, or out of range. */
  INVALID_LIMIT: 'ERR_INVALID_LIMIT',
  /** A cost (or the `n` of allowAtMost) is negative, fractional or too large. */
  INVALID_COST: 'ERR_INVALID_COST',
  /** A key is not a string, is empty or is longer than the maximum. */
  INVALID_KEY: 'ERR_INVALID_KEY',
  /** An option passed to a constructor or method is invalid. */
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  /** A clock (`now` option) returned something other than integer microseconds. */
  INVALID_CLOCK: 'ERR_INVALID_CLOCK',
  /** Time values would pass 2^53 microseconds; nothing was written. */
  OVERFLOW: 'ERR_OVERFLOW',
  /** The store (Redis) answered an error or could not be reached. */
  STORE: 'ERR_STORE',
  /** The store did not answer before the check's deadline. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** No pooled connection became free in time, or too much work was already waiting. */
  POOL_TIMEOUT: 'ERR_POOL_TIMEOUT',
  /** The store was closed. */
  CLOSED: 'ERR_CLOSED',
  /** `wait()` was aborted through its AbortSignal. */
  ABORTED: 'ERR_ABORTED',
  /** `wait()` would have to wait longer than `maxWait`, or the cost can never be allowed. */
  WAIT_EXCEEDED: 'ERR_WAIT_EXCEEDED',
  /** `settle()` was called on a reservation already settled, or on a denied one (nothing was reserved). */
  SETTLE: 'ERR_SETTLE',
  /** Keys of one compound check cannot be placed in one Redis Cluster slot. */
  CROSS_SLOT: 'ERR_CROSS_SLOT',
  /** A user-supplied function (an adapter's key, cost, policy, policyKey, skip or handler) threw or rejected; see `cause`. */
  CALLBACK: 'ERR_CALLBACK',
  /** A lease is no longer held (it expired, or was released) when it was extended. */
  LEASE_EXPIRED: 'ERR_LEASE_EXPIRED',
} as const;

/** One of the values of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The error thrown (or rejected with) by tollgate, with a stable {@link ErrorCode}. */
export class LimiterError extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_LIMIT`. */
  readonly code: ErrorCode;
  /** For a store failure: ms after which a retry may succeed, when the thrower knows it (HTTP adapters send it as `Retry-After`). */
  readonly retryAfter?: number;

  /**
   * @param code - stable code from {@link ErrorCodes}
   * @param message - human-readable message naming the field, the value and what is allowed
   * @param options - the underlying cause, if any, and a known retry time in ms
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LimiterError';
    this.code = code;
    if (options?.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

/** Wraps anything a store call threw into a LimiterError (code ERR_STORE unless already typed). */
export function toStoreError(error: unknown): LimiterError {
  if (error instanceof LimiterError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new LimiterError(ErrorCodes.STORE, `Redis call failed: ${message}`, { cause: error });
}

/** Renders a value for an error message (strings quoted, everything else via String). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || value === undefined || typeof value !== 'object') return String(value);
  return Object.prototype.toString.call(value);
}
