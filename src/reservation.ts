/**
 * Reservations and adjustments after the fact: the adjustment items a
 * settle, refund or penalty sends (src/settle.ts decides them), their public
 * results, and the once-only `settle()` a reservation carries.
 *
 * Settling a reservation of `cost` units to `actual` units adjusts by
 * `actual - cost`: a rate limit's TAT moves by that many emission intervals
 * (a refund never earlier than now), a quota's count changes in the window
 * the reservation was made in (dropped when that window has ended). A
 * compound reservation (allowAll) settles per item, never proportionally:
 * `settle(n)` settles every item to `n` units, `settle([n1, n2, ...])` each
 * item to its own.
 */
import { ErrorCodes, LimiterError, describe } from './errors.js';
import { checkCost } from './inputs.js';
import { resolveLimit } from './limits.js';
import { usToMs } from './intmath.js';
import type { AnyLimit } from './concurrency.js';
import type { Limit } from './limits.js';
import { type Quota, checkQuotaCost, isQuota, quotaKey, resolveQuota } from './quotas.js';
import type { FailureReason, LimitResult } from './result.js';
import type { AdjustOutcome, AnyItem, AnyOutcome } from './store.js';

/** What can be reserved and adjusted: a rate limit or a quota. */
type Metered = Limit | Quota;

/** What an adjustment did to one (key, limit) item. */
export interface AdjustItemResult {
  /** The key adjusted. */
  readonly key: string;
  /** The limit it was adjusted under. */
  readonly limit: Metered;
  /** Units given back. */
  readonly refunded: number;
  /** Units taken. */
  readonly charged: number;
  /** True when nothing changed: the quota window it was for has ended, or a failure policy answered. */
  readonly dropped: boolean;
  /** Units available after the adjustment (0 while in debt). */
  readonly remaining: number;
  /** ms until the bucket is full again (rate) or the window ends (quota), rounded up. */
  readonly resetAfter: number;
}

/** The result of `settle()`, `refund()` or `penalize()`. */
export interface AdjustResult {
  /** Units given back (summed over the items of a compound reservation). */
  readonly refunded: number;
  /** Units taken (summed over items). */
  readonly charged: number;
  /** True when some item's adjustment was dropped (see {@link AdjustItemResult.dropped}). */
  readonly dropped: boolean;
  /** Units available after the adjustment (the smallest across items). */
  readonly remaining: number;
  /** ms until the bucket is full again or the window ends, of the item with the least remaining. */
  readonly resetAfter: number;
  /** The limit of the item with the least remaining. */
  readonly limit: Metered;
  /** Per-item results; present for compound reservations. */
  readonly items?: readonly AdjustItemResult[];
  /** Present only when the store failed and a failure policy answered (nothing was adjusted unless `local`). */
  readonly reason?: FailureReason;
}

/** A check result that can be settled once its real cost is known: from `reserve()` and `allowAll()`. */
export interface Reservation<L extends AnyLimit = Limit> extends LimitResult<L> {
  /**
   * Settles the reservation to its actual cost: gives back what was reserved
   * beyond it, or takes the excess (even past the limit: a debt). A number
   * settles every item to it; an array gives each item of a compound
   * reservation its own, in the order of its items (a concurrency item's
   * entry is ignored: a lease has no cost to settle). Once only: a second call, or a call on a denied
   * reservation, rejects with ERR_SETTLE. A call that failed (store error)
   * may be repeated.
   */
  settle(actual: number | readonly number[]): Promise<AdjustResult>;
}

/** One reserved item, as a reservation remembers it. */
export interface Reserved {
  /** The caller's key. */
  readonly key: string;
  /** The limit or quota. */
  readonly limit: Metered;
  /** Units reserved. */
  readonly cost: number;
  /** Position among the items of a compound check (its entry in `settle([...])`); 0 for a single one. */
  readonly index?: number;
  /** Quotas: start (µs) of the window the units were counted in. */
  readonly window?: number;
}

/** Validates an adjustment amount (`n` of refund/penalize, `actual` of settle) for `limit`. */
export function checkUnits(limit: Metered, n: unknown, field: string): number {
  return isQuota(limit) ? checkQuotaCost(n, field) : checkCost(n, resolveLimit(limit), field);
}

/** The adjustment item moving `key` under `limit` by `delta` units (for a quota: in `window`, or the current one). */
export function adjustItem(key: string, limit: Metered, delta: number, window?: number): AnyItem {
  if (isQuota(limit)) {
    const q = resolveQuota(limit);
    const item = { kind: 'quotaAdjust' as const, key: quotaKey(key, q.spec.unit), amount: q.amount, windows: q.boundaries, delta };
    return window === undefined ? item : { ...item, window };
  }
  const r = resolveLimit(limit);
  return { kind: 'rateAdjust', key, interval: r.interval, burst: r.burst, delta };
}

/** The public result of an adjustment check over `entries` (one per item, in order). */
export function adjustResult(entries: readonly { key: string; limit: Metered }[], outcome: AnyOutcome, compound: boolean): AdjustResult {
  const items = entries.map((entry, i): AdjustItemResult => {
    const o = outcome.items[i] as AdjustOutcome | undefined;
    if (o === undefined) throw new LimiterError(ErrorCodes.STORE, `store answered ${outcome.items.length} items for ${entries.length}`);
    return {
      key: entry.key,
      limit: entry.limit,
      refunded: o.refunded,
      charged: o.charged,
      dropped: o.dropped,
      remaining: o.remaining,
      resetAfter: usToMs(o.resetAfter),
    };
  });
  let head = items[0] as AdjustItemResult;
  let refunded = 0;
  let charged = 0;
  let dropped = false;
  for (const item of items) {
    if (item.remaining < head.remaining) head = item;
    refunded += item.refunded;
    charged += item.charged;
    dropped ||= item.dropped;
  }
  return {
    refunded,
    charged,
    dropped,
    remaining: head.remaining,
    resetAfter: head.resetAfter,
    limit: head.limit,
    ...(compound ? { items } : {}),
    ...(outcome.reason ? { reason: outcome.reason } : {}),
  };
}

/** The per-item actual costs of `settle(actual)` over `reserved` (of `size` items); throws ERR_INVALID_COST on a bad value. */
function actuals(reserved: readonly Reserved[], size: number, actual: unknown): number[] {
  if (Array.isArray(actual)) {
    if (actual.length !== size) {
      throw new LimiterError(ErrorCodes.INVALID_COST, `settle(actual) takes one actual cost per item (${size}), got an array of ${actual.length}`);
    }
    return reserved.map((r) => checkUnits(r.limit, actual[r.index ?? 0], `settle actual[${r.index ?? 0}]`));
  }
  if (typeof actual !== 'number') {
    throw new LimiterError(ErrorCodes.INVALID_COST, `settle(actual) takes an integer >= 0 or an array of them, got ${describe(actual)}`);
  }
  return reserved.map((r) => checkUnits(r.limit, actual, 'settle actual'));
}

/**
 * Gives `result` its once-only `settle()` (a non-enumerable property, so the
 * result still reads and compares as plain data). `run` sends the
 * adjustment items; a result answered by a failure policy settles to a
 * dropped adjustment without a store call.
 */
export function withSettle<L extends AnyLimit, R extends LimitResult<L>>(
  result: R,
  reserved: readonly Reserved[],
  compound: boolean,
  run: (items: AnyItem[], entries: readonly Reserved[]) => Promise<AdjustResult>,
): R & Reservation<L> {
  let state: 'open' | 'running' | 'done' = result.allowed ? 'open' : 'done';
  const settle = (actual: number | readonly number[]): Promise<AdjustResult> => {
    if (state !== 'open') {
      const why = result.allowed ? 'this reservation is already settled' : 'the check was denied, so nothing was reserved';
      return Promise.reject(new LimiterError(ErrorCodes.SETTLE, `settle() cannot run: ${why}`));
    }
    let items: AnyItem[];
    try {
      items = actuals(reserved, result.items?.length ?? 1, actual).map((n, i) => {
        const r = reserved[i] as Reserved;
        return adjustItem(r.key, r.limit, n - r.cost, r.window);
      });
    } catch (error) {
      return Promise.reject(error);
    }
    state = 'running';
    if (result.reason !== undefined) {
      // A failure policy answered the reservation: the store holds nothing to adjust.
      state = 'done';
      const outcome: AnyOutcome = {
        allowed: true,
        now: 0,
        source: 'memory',
        reason: result.reason,
        items: reserved.map((): AdjustOutcome => ({ allowed: true, granted: 0, remaining: 0, retryAfter: 0, resetAfter: 0, refunded: 0, charged: 0, dropped: true })),
      };
      return Promise.resolve(adjustResult(reserved, outcome, compound));
    }
    return run(items, reserved).then(
      (done) => {
        state = 'done';
        return done;
      },
      (error: unknown) => {
        state = 'open';
        throw error;
      },
    );
  };
  Object.defineProperty(result, 'settle', { value: settle, enumerable: false });
  return result as R & Reservation<L>;
}
