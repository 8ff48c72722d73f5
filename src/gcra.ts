/**
 * The GCRA decision in TypeScript, a line-for-line twin of lua/gcra.lua. The
 * in-process store runs it; tests hold both to the same answers.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import { MAX_SAFE, floorDiv } from './intmath.js';
import type { Check, ItemOutcome } from './store.js';

/** Storage the algorithm reads and writes: TATs in integer µs by key. */
export interface TatState {
  /** The stored TAT, or undefined when absent. */
  get(key: string): number | undefined;
  /** Stores a TAT; `ttlMs` is how long the key must live (ceil((tat - now)/1000), >= 1). */
  set(key: string, tat: number, ttlMs: number): void;
}

interface Draft extends ItemOutcome {
  /** The TAT to write when the check passes, if any. */
  readonly write?: number;
}

/**
 * Evaluates a validated check at `now` against `state`, writing only when
 * every item passes. Returns whether the check passed and each item's outcome.
 */
export function evaluateGcra(check: Check, now: number, state: TatState): { allowed: boolean; items: ItemOutcome[] } {
  const pending = new Map<string, number>();
  const load = (key: string, usePending: boolean): number => {
    const tat = (usePending ? pending.get(key) : undefined) ?? state.get(key) ?? now;
    return tat < now ? now : tat;
  };
  for (const item of check.items) {
    // The script's argument check: every value the algorithm forms stays below 2^53.
    if (now + item.interval * item.burst + item.cost * item.interval >= MAX_SAFE) {
      throw new LimiterError(ErrorCodes.OVERFLOW, `now ${now} µs + T * B + n * T (T ${item.interval} µs, B ${item.burst}, n ${item.cost}) must stay below 2^53; nothing was written`);
    }
  }
  const drafts: Draft[] = [];
  let all = true;
  for (const item of check.items) {
    const tat = load(item.key, true);
    const T = item.interval;
    const tau = T * item.burst;
    const n = item.cost;
    const used = tat - now;
    if (check.mode === 'atMost') {
      const avail = floorDiv(Math.max(0, tau - used), T);
      if (avail < 1) {
        all = false;
        drafts.push({ allowed: false, granted: 0, remaining: 0, retryAfter: T - (tau - used), resetAfter: used, tat });
      } else {
        const g = Math.min(n, avail);
        const next = tat + g * T;
        pending.set(item.key, next);
        drafts.push({ allowed: true, granted: g, remaining: avail - g, retryAfter: 0, resetAfter: next - now, tat: next, write: next });
      }
    } else {
      const next = tat + n * T;
      const allowAt = next - tau;
      if (now < allowAt) {
        all = false;
        const free = tau - used;
        drafts.push({
          allowed: false,
          granted: 0,
          remaining: free > 0 ? floorDiv(free, T) : 0,
          retryAfter: n * T > tau ? -1 : allowAt - now,
          resetAfter: used,
          tat,
        });
      } else {
        if (n > 0) pending.set(item.key, next);
        const base = { allowed: true, granted: n, remaining: floorDiv(now - allowAt, T), retryAfter: 0, resetAfter: next - now, tat: next };
        drafts.push(n > 0 ? { ...base, write: next } : base);
      }
    }
  }
  if (all) {
    check.items.forEach((item, i) => {
      const write = drafts[i]?.write;
      if (write !== undefined) state.set(item.key, write, Math.max(1, floorDiv(write - now + 999, 1000)));
    });
    return { allowed: true, items: drafts.map(strip) };
  }
  const items = check.items.map((item, i): ItemOutcome => {
    const d = drafts[i] as Draft;
    if (!d.allowed) return strip(d);
    // Allowed on its own but not written: report the unchanged state.
    const tat = load(item.key, false);
    const used = tat - now;
    const free = item.interval * item.burst - used;
    return { allowed: true, granted: 0, remaining: free > 0 ? floorDiv(free, item.interval) : 0, retryAfter: 0, resetAfter: used, tat };
  });
  return { allowed: false, items };
}

function strip(d: Draft): ItemOutcome {
  return { allowed: d.allowed, granted: d.granted, remaining: d.remaining, retryAfter: d.retryAfter, resetAfter: d.resetAfter, tat: d.tat };
}
