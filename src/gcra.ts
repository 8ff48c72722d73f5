/**
 * The GCRA decision in TypeScript, the twin of lua/gcra.lua (SPEC sections
 * 3-5), and the rate kind of src/kinds.ts. The in-process store runs it to
 * decide and write; the Redis codec runs it (without writing) on the TATs the
 * script read, to derive the reported figures and confirm the script's verdict.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import { MAX_SAFE, floorDiv } from './intmath.js';
import type { ItemDecision, Kind } from './kinds.js';
import type { Check, CheckMode, RateItem, RateOutcome } from './store.js';

/** Storage the algorithm reads and writes: TATs in integer µs by key. */
export interface TatState {
  /** The stored TAT, or undefined when absent. */
  get(key: string): number | undefined;
  /** Stores a TAT; `ttlMs` is how long the key must live (ceil((tat - now)/1000), >= 1). */
  set(key: string, tat: number, ttlMs: number): void;
}

/** The result of {@link evaluateGcra}: the verdict and one outcome per item. */
export interface GcraResult {
  /** True when every item passed (and was written). */
  readonly allowed: boolean;
  /** One outcome per item, in order. */
  readonly items: RateOutcome[];
}

/** Milliseconds a key must live: ceil((tat - now) / 1000), at least 1 (the script's PX). */
export function ttlMs(tat: number, now: number): number {
  return Math.max(1, floorDiv(tat - now + 999, 1000));
}

function checkOverflow(item: RateItem, now: number): void {
  // The script's argument check: every value the algorithm forms stays below 2^53.
  if (now + item.interval * item.burst + item.cost * item.interval >= MAX_SAFE) {
    throw new LimiterError(
      ErrorCodes.OVERFLOW,
      `now ${now} µs + T * B + n * T (T ${item.interval} µs, B ${item.burst}, n ${item.cost}) must stay below 2^53; nothing was written`,
    );
  }
}

/** The state of a bucket whose TAT is `tat` (>= now), reported without taking anything. */
export function unchanged(item: RateItem, tat: number, now: number): RateOutcome {
  const used = tat - now;
  const free = item.interval * item.burst - used;
  return { allowed: true, granted: 0, remaining: free > 0 ? floorDiv(free, item.interval) : 0, retryAfter: 0, resetAfter: used, tat };
}

/**
 * Decides one item whose current TAT is `tat` (already max(stored, now)).
 * Returns its outcome; when allowed and something is taken, `outcome.tat` is
 * the TAT to write and `writes` is true.
 */
export function decideItem(atMost: boolean, item: RateItem, tat: number, now: number): { outcome: RateOutcome; writes: boolean } {
  const T = item.interval;
  const tau = T * item.burst;
  const n = item.cost;
  const used = tat - now;
  if (atMost) {
    const avail = floorDiv(Math.max(0, tau - used), T);
    if (avail < 1) {
      return { outcome: { allowed: false, granted: 0, remaining: 0, retryAfter: T - (tau - used), resetAfter: used, tat }, writes: false };
    }
    const g = Math.min(n, avail);
    const next = tat + g * T;
    return { outcome: { allowed: true, granted: g, remaining: avail - g, retryAfter: 0, resetAfter: next - now, tat: next }, writes: true };
  }
  const next = tat + n * T;
  const allowAt = next - tau;
  if (now < allowAt) {
    const free = tau - used;
    return {
      outcome: {
        allowed: false,
        granted: 0,
        remaining: free > 0 ? floorDiv(free, T) : 0,
        retryAfter: n * T > tau ? -1 : allowAt - now,
        resetAfter: used,
        tat,
      },
      writes: false,
    };
  }
  return { outcome: { allowed: true, granted: n, remaining: floorDiv(now - allowAt, T), retryAfter: 0, resetAfter: next - now, tat: next }, writes: n > 0 };
}

/**
 * Evaluates a validated check at `now` against `state`, writing only when
 * every item passes. Returns whether the check passed and each item's outcome.
 * Throws ERR_OVERFLOW (writing nothing) when a value would pass 2^53.
 */
export function evaluateGcra(check: Check<RateItem>, now: number, state: TatState): GcraResult {
  const atMost = check.mode === 'atMost';
  const first = check.items[0];
  if (check.items.length === 1 && first) {
    // One item, the common case: no intermediate collections.
    checkOverflow(first, now);
    const stored = state.get(first.key);
    const { outcome, writes } = decideItem(atMost, first, stored === undefined || stored < now ? now : stored, now);
    if (writes) state.set(first.key, outcome.tat, ttlMs(outcome.tat, now));
    return { allowed: outcome.allowed, items: [outcome] };
  }
  for (const item of check.items) checkOverflow(item, now);
  const pending = new Map<string, number>();
  const current = (key: string, usePending: boolean): number => {
    const tat = (usePending ? pending.get(key) : undefined) ?? state.get(key) ?? now;
    return tat < now ? now : tat;
  };
  const decided = check.items.map((item) => {
    const d = decideItem(atMost, item, current(item.key, true), now);
    if (d.writes) pending.set(item.key, d.outcome.tat);
    return d;
  });
  if (decided.every((d) => d.outcome.allowed)) {
    check.items.forEach((item, i) => {
      const d = decided[i];
      if (d?.writes) state.set(item.key, d.outcome.tat, ttlMs(d.outcome.tat, now));
    });
    return { allowed: true, items: decided.map((d) => d.outcome) };
  }
  // Denied: nothing is written; items that would pass report their unchanged state.
  const items = check.items.map((item, i): RateOutcome => {
    const d = decided[i] as { outcome: RateOutcome };
    return d.outcome.allowed ? unchanged(item, current(item.key, false), now) : d.outcome;
  });
  return { allowed: false, items };
}

/** The current TAT of `key` for an item of a check: what earlier items would leave, else the stored one, at least now. */
function currentTat(key: string, now: number, state: TatState, pending: Map<string, unknown> | undefined): number {
  const tat = (pending?.get(key) as number | undefined) ?? state.get(key) ?? now;
  return tat < now ? now : tat;
}

/** The rate kind (src/kinds.ts): GCRA items in checks that mix kinds (tag "g" in lua/gcra.lua). */
export const rateKind: Kind<RateItem, RateOutcome, TatState> = {
  encode(item, target) {
    target.args.push('g', target.limitIndex(item.interval, item.burst) + 1, item.cost);
  },
  read(entry, item, view) {
    if (typeof entry !== 'number' || !Number.isSafeInteger(entry)) return `a rate entry is ${typeof entry}`;
    const stored = entry >= 0 ? entry : -entry - 1;
    if (stored > 0) view.set(item.key, stored, 0);
    return entry >= 0;
  },
  view() {
    const tats = new Map<string, number>();
    return { get: (key) => tats.get(key), set: (key, tat) => void tats.set(key, tat) };
  },
  decide(item, now, state, pending): ItemDecision<RateOutcome> {
    checkOverflow(item, now);
    const d = decideItem(false, item, currentTat(item.key, now, state, pending), now);
    const tat = d.outcome.tat;
    if (d.writes) pending.set(item.key, tat);
    return {
      outcome: d.outcome,
      write: d.writes ? () => state.set(item.key, tat, ttlMs(tat, now)) : undefined,
      unchanged: () => unchanged(item, currentTat(item.key, now, state, undefined), now),
    };
  },
  policy(item, mode: CheckMode, allowed, now, retryUs) {
    if (allowed) {
      const granted = mode === 'atMost' ? Math.min(item.cost, item.burst) : item.cost;
      return { allowed: true, granted, remaining: Math.max(0, item.burst - granted), retryAfter: 0, resetAfter: 0, tat: now };
    }
    return { allowed: false, granted: 0, remaining: 0, retryAfter: item.cost > item.burst ? -1 : retryUs, resetAfter: item.interval * item.burst, tat: now };
  },
};
