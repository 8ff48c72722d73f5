/**
 * Adjustments after the fact, the twin of lua/settle.lua: settling a
 * reservation, a refund, a penalty. Two item kinds of src/kinds.ts:
 * - `rateAdjust` moves a key's TAT by `delta` emission intervals: a refund
 *   never moves it earlier than now (a full bucket), a charge moves it even
 *   past now + tau (a debt that delays the requests after it);
 * - `quotaAdjust` changes the count of a calendar window by `delta`: never
 *   below 0, and past the amount as a debt until the window ends; an
 *   adjustment for a window that has ended is dropped.
 * An adjustment always passes; its outcome says what it changed.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import { MAX_SAFE, ceilDiv, floorDiv } from './intmath.js';
import type { ItemDecision, Kind } from './kinds.js';
import { type TatState, ttlMs } from './gcra.js';
import { type QuotaState, type QuotaWindow, currentCount, quotaView, setPending, windowOf } from './quota.js';
import type { AdjustOutcome, QuotaAdjustItem, RateAdjustItem } from './store.js';

/** What a failure policy reports for an adjustment: nothing changed. */
function untouched(remaining: number, resetAfter: number): AdjustOutcome {
  return { allowed: true, granted: 0, remaining, retryAfter: 0, resetAfter, refunded: 0, charged: 0, dropped: true };
}

/**
 * The TAT after adjusting `stored` (undefined when absent or expired) by
 * `delta` intervals of `T` at `now`, and the units refunded and charged.
 * Throws ERR_OVERFLOW when the TAT would pass 2^53.
 */
export function adjustTat(stored: number | undefined, delta: number, T: number, now: number): { tat: number; refunded: number; charged: number } {
  const tat = stored === undefined || stored < now ? now : stored;
  if (delta >= 0) {
    const next = tat + delta * T;
    if (next >= MAX_SAFE) throw new LimiterError(ErrorCodes.OVERFLOW, `TAT ${tat} µs + ${delta} * T (${T} µs) must stay below 2^53; nothing was written`);
    return { tat: next, refunded: 0, charged: delta };
  }
  if (tat === now) return { tat, refunded: 0, charged: 0 };
  const back = -delta * T;
  const next = back >= tat - now ? now : tat - back;
  return { tat: next, refunded: ceilDiv(tat - next, T), charged: 0 };
}

/** The rate adjustment kind: tag "G" in lua/settle.lua. Reply entry: the stored TAT as read (0 when absent). */
export const rateAdjustKind: Kind<RateAdjustItem, AdjustOutcome, TatState> = {
  encode(item, target) {
    target.args.push('G', target.limitIndex(item.interval, item.burst) + 1, item.delta);
  },
  read(entry, item, view) {
    if (typeof entry !== 'number' || !Number.isSafeInteger(entry) || entry < 0) return `a rate adjustment entry is ${String(entry)}`;
    if (entry > 0) view.set(item.key, entry, 0);
    return true;
  },
  view() {
    const tats = new Map<string, number>();
    return { get: (key) => tats.get(key), set: (key, tat) => void tats.set(key, tat) };
  },
  decide(item, now, state, pending): ItemDecision<AdjustOutcome> {
    const T = item.interval;
    const stored = (pending.get(item.key) as number | undefined) ?? state.get(item.key);
    const { tat, refunded, charged } = adjustTat(stored, item.delta, T, now);
    const before = stored === undefined || stored < now ? now : stored;
    const used = tat - now;
    const free = T * item.burst - used;
    const outcome: AdjustOutcome = {
      allowed: true,
      granted: 0,
      remaining: free > 0 ? floorDiv(free, T) : 0,
      retryAfter: 0,
      resetAfter: used,
      refunded,
      charged,
      dropped: false,
    };
    const writes = tat !== before;
    if (writes) pending.set(item.key, tat);
    return { outcome, write: writes ? () => state.set(item.key, tat, ttlMs(tat, now)) : undefined, unchanged: () => outcome };
  },
  policy(item) {
    return untouched(0, item.interval * item.burst);
  },
};

/** Decides a quota adjustment on a window that has counted `used` units (see the module comment). */
export function decideQuotaAdjust(item: QuotaAdjustItem, used: number, w: QuotaWindow, now: number): { outcome: AdjustOutcome; used: number } {
  const resetAfter = w.end - now;
  const remaining = (count: number): number => (item.amount > count ? item.amount - count : 0);
  if (item.window !== undefined && item.window !== w.start) {
    return { outcome: { ...untouched(remaining(used), resetAfter) }, used };
  }
  if (item.delta >= 0 && used + item.delta >= MAX_SAFE) {
    throw new LimiterError(ErrorCodes.OVERFLOW, `quota count ${used} + ${item.delta} must stay below 2^53; nothing was written`);
  }
  const next = used + item.delta > 0 ? used + item.delta : 0;
  const outcome: AdjustOutcome = {
    allowed: true,
    granted: 0,
    remaining: remaining(next),
    retryAfter: 0,
    resetAfter,
    refunded: next < used ? used - next : 0,
    charged: next > used ? next - used : 0,
    dropped: false,
  };
  return { outcome, used: next };
}

/** The quota adjustment kind: tag "Q" in lua/settle.lua. Reply entry: the window's count as read. */
export const quotaAdjustKind: Kind<QuotaAdjustItem, AdjustOutcome, QuotaState> = {
  encode(item, target) {
    const b = item.windows(target.now);
    target.args.push('Q', b.previous, b.start, b.end, b.next, item.delta, item.window ?? '');
  },
  read(entry, item, view, now) {
    if (typeof entry !== 'number' || !Number.isSafeInteger(entry) || entry < 0) return `a quota adjustment entry is ${String(entry)}`;
    view.set(item.key, windowOf(item.windows, now).start, 0, entry);
    return true;
  },
  view: quotaView,
  decide(item, now, state, pending): ItemDecision<AdjustOutcome> {
    const w = windowOf(item.windows, now);
    const before = currentCount(item.key, w.start, state, pending);
    const { outcome, used } = decideQuotaAdjust(item, before, w, now);
    const writes = used !== before;
    if (writes) setPending(item.key, w.start, used, pending);
    return { outcome, write: writes ? () => state.set(item.key, w.start, w.end, used) : undefined, unchanged: () => outcome };
  },
  policy(item, _mode, _allowed, now) {
    const w = windowOf(item.windows, now);
    return untouched(0, w.end - now);
  },
};
