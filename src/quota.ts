/**
 * The quota decision in TypeScript, the twin of lua/quota.lua, and the quota
 * kind of src/kinds.ts: whether a cost fits the units left in the calendar
 * window holding `now`. The in-process store runs it on its counts; the
 * Redis codec runs it (without writing) on the count the script read.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import { MAX_SAFE } from './intmath.js';
import type { ItemDecision, Kind } from './kinds.js';
import type { QuotaItem, QuotaOutcome, QuotaWindows } from './store.js';

/** Storage of quota counts: one window's count per key. */
export interface QuotaState {
  /** The count `key` holds for the window starting at `start` (µs); 0 when absent or another window's. */
  get(key: string, start: number): number;
  /** Stores `key`'s count for the window [start, end) (µs); it lives until `end`. A count of 0 deletes. */
  set(key: string, start: number, end: number, count: number): void;
}

/** A window [start, end) in µs. */
export interface QuotaWindow {
  /** First µs of the window. */
  readonly start: number;
  /** First µs after the window. */
  readonly end: number;
}

/** The window holding `now` (µs). */
export function windowOf(windows: QuotaWindows, now: number): QuotaWindow {
  const b = windows(now);
  return { start: b.start, end: b.end };
}

/** One key's count in one window, as a map key (two quotas of one unit may share a key in one check). */
function slot(key: string, start: number): string {
  return `${start}\u0000${key}`;
}

/** A quota state filled from a reply: the count the script read for each key and window. */
export function quotaView(): QuotaState {
  const counts = new Map<string, number>();
  return { get: (key, start) => counts.get(slot(key, start)) ?? 0, set: (key, start, _end, count) => void counts.set(slot(key, start), count) };
}

/**
 * Decides taking `n` units from a window that has counted `used` units of
 * `amount`, at `now`: all of them or nothing. Throws ERR_OVERFLOW (as the
 * script fails the check) when the count would pass 2^53.
 */
export function decideTake(amount: number, used: number, n: number, w: QuotaWindow, now: number): QuotaOutcome {
  if (used + n >= MAX_SAFE) {
    throw new LimiterError(ErrorCodes.OVERFLOW, `quota count ${used} + cost ${n} must stay below 2^53; nothing was written`);
  }
  const free = amount > used ? amount - used : 0;
  const resetAfter = w.end - now;
  if (n > free) {
    return { allowed: false, granted: 0, remaining: free, retryAfter: n > amount ? -1 : resetAfter, resetAfter, window: w.start, used };
  }
  return { allowed: true, granted: n, remaining: free - n, retryAfter: 0, resetAfter, window: w.start, used: used + n };
}

/** The count of `key` in the window starting at `start` as the items before it in the check leave it, else as stored. */
export function currentCount(key: string, start: number, state: QuotaState, pending: Map<string, unknown>): number {
  return (pending.get(slot(key, start)) as number | undefined) ?? state.get(key, start);
}

/** Records what an item of a check would leave as `key`'s count in the window starting at `start`. */
export function setPending(key: string, start: number, count: number, pending: Map<string, unknown>): void {
  pending.set(slot(key, start), count);
}

/** The quota kind (src/kinds.ts): tag "q" in lua/quota.lua. */
export const quotaKind: Kind<QuotaItem, QuotaOutcome, QuotaState> = {
  encode(item, target) {
    const b = item.windows(target.now);
    target.args.push('q', item.amount, b.previous, b.start, b.end, b.next, item.cost);
  },
  read(entry, item, view, now) {
    if (typeof entry !== 'number' || !Number.isSafeInteger(entry)) return `a quota entry is ${typeof entry}`;
    view.set(item.key, windowOf(item.windows, now).start, 0, entry >= 0 ? entry : -entry - 1);
    return entry >= 0;
  },
  view: quotaView,
  decide(item, now, state, pending): ItemDecision<QuotaOutcome> {
    const w = windowOf(item.windows, now);
    const outcome = decideTake(item.amount, currentCount(item.key, w.start, state, pending), item.cost, w, now);
    const writes = outcome.allowed && item.cost > 0;
    if (writes) setPending(item.key, w.start, outcome.used, pending);
    return {
      outcome,
      write: writes ? () => state.set(item.key, w.start, w.end, outcome.used) : undefined,
      unchanged: () => decideTake(item.amount, state.get(item.key, w.start), 0, w, now),
    };
  },
  policy(item, _mode, allowed, now, retryUs) {
    const w = windowOf(item.windows, now);
    const resetAfter = w.end - now;
    if (allowed) {
      return { allowed: true, granted: item.cost, remaining: Math.max(0, item.amount - item.cost), retryAfter: 0, resetAfter, window: w.start, used: item.cost };
    }
    return { allowed: false, granted: 0, remaining: 0, retryAfter: item.cost > item.amount ? -1 : retryUs, resetAfter, window: w.start, used: 0 };
  },
};
