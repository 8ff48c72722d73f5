/**
 * The public result of a check (SPEC section 6), in milliseconds rounded up,
 * and its construction from a store's integer-microsecond outcome.
 */
import type { AnyLimit } from './concurrency.js';
import { usToMs } from './intmath.js';
import type { Limit } from './limits.js';
import type { AnyItemOutcome, AnyOutcome } from './store.js';

/** Which failure policy produced a result when the store failed (SPEC section 10). */
export type FailureReason = 'open' | 'closed' | 'local';

/** The result of one (key, limit) item; `L` is the kind of limit it may have (a rate limit unless said). */
export interface ItemResult<L extends AnyLimit = Limit> {
  /** The key checked. */
  readonly key: string;
  /** Whether this item on its own could pass. */
  readonly allowed: boolean;
  /** Units taken (0 when the check was denied). */
  readonly granted: number;
  /** Whole units still available. */
  readonly remaining: number;
  /** ms until a retry could pass, rounded up; 0 when allowed; Infinity when never. */
  readonly retryAfter: number;
  /** ms until the bucket is full again, rounded up. */
  readonly resetAfter: number;
  /** The limit used. */
  readonly limit: L;
  /** Concurrency items only: leases held after the check. */
  readonly inFlight?: number;
  /** Concurrency items only: when the lease taken expires, ms since the epoch (store's clock); 0 when none was taken. */
  readonly expiresAt?: number;
}

/** The result of a check. A denial is a result, never an error. */
export interface LimitResult<L extends AnyLimit = Limit> {
  /** True when the check passed and its units were taken. */
  readonly allowed: boolean;
  /** Units taken. */
  readonly granted: number;
  /** Whole units still available (the smallest across items of a compound check). */
  readonly remaining: number;
  /** ms until a retry could pass, rounded up; 0 when allowed; Infinity when never. */
  readonly retryAfter: number;
  /** ms until the bucket is full again, rounded up. */
  readonly resetAfter: number;
  /** The limit used (for a compound check, the item with the least remaining). */
  readonly limit: L;
  /** Per-item results; present for compound checks (`allowAll`). */
  readonly items?: readonly ItemResult<L>[];
  /** Present only when the store failed and a failure policy decided. */
  readonly reason?: FailureReason;
}

/** The result of `allowAll`: a compound {@link LimitResult} that can give back the leases it took. */
export interface CompoundResult<L extends AnyLimit = Limit> extends LimitResult<L> {
  /**
   * Releases every lease the check took (its concurrency items; nothing for
   * rate items). Idempotent. A method that is not an own enumerable
   * property, so the result stays plain data (JSON, equality, spreading).
   */
  release(): Promise<void>;
}

/** Converts one item outcome (µs) to a public item result (ms, rounded up). */
export function toItemResult<L extends AnyLimit>(key: string, limit: L, o: AnyItemOutcome): ItemResult<L> {
  const result = {
    key,
    allowed: o.allowed,
    granted: o.granted,
    remaining: o.remaining,
    retryAfter: o.retryAfter < 0 ? Infinity : usToMs(o.retryAfter),
    resetAfter: usToMs(o.resetAfter),
    limit,
  };
  return 'inFlight' in o ? { ...result, inFlight: o.inFlight, expiresAt: Math.floor(o.expiresAt / 1000) } : result;
}

/** Builds the result of a single-item check. */
export function singleResult<L extends AnyLimit>(key: string, limit: L, outcome: AnyOutcome): LimitResult<L> {
  const item = outcome.items[0];
  if (!item) throw new Error('tollgate: outcome without items');
  const r = toItemResult(key, limit, item);
  const result = { allowed: outcome.allowed, granted: r.granted, remaining: r.remaining, retryAfter: r.retryAfter, resetAfter: r.resetAfter, limit };
  return outcome.reason ? { ...result, reason: outcome.reason } : result;
}

/**
 * Builds the result of a compound check: denied if any item is denied,
 * `retryAfter` the largest among denied items, `remaining` the smallest.
 */
export function compoundResult<L extends AnyLimit>(items: readonly ItemResult<L>[], allowed: boolean, reason?: FailureReason): LimitResult<L> {
  let head = items[0];
  if (!head) throw new Error('tollgate: compound check without items');
  let retryAfter = 0;
  for (const item of items) {
    if (item.remaining < head.remaining) head = item;
    if (!item.allowed && item.retryAfter > retryAfter) retryAfter = item.retryAfter;
  }
  return {
    allowed,
    granted: head.granted,
    remaining: head.remaining,
    retryAfter: allowed ? 0 : retryAfter,
    resetAfter: head.resetAfter,
    limit: head.limit,
    items,
    ...(reason ? { reason } : {}),
  };
}
