/**
 * Known-answer cases for calendar quotas and adjustments after the fact
 * (issue 14): takes and denials in a quota window, reservations settled
 * (refund, excess, debt, twice, after the window ended, compound), refunds
 * and penalties, run unchanged against both stores by
 * test/settlement.test.ts. Every expected number was worked out by hand
 * (the arithmetic is in the comments), not computed by the code under test.
 *
 * Times: `at` is µs after T0 (test/cases/known-answers.ts), 2025-06-15T15:06:40Z.
 * Expected results are the public ones (ms, rounded up).
 */
import { type Limit, type Quota, perMinute, quota } from '../../src/index.js';

/** A rate limit or a quota. */
type AnyLimit = Limit | Quota;

/** 5 per UTC day: T0 is 15:06:40, so the window [2025-06-15T00:00Z, 2025-06-16T00:00Z) ends 32,000 s after T0. */
export const DAILY_5: Quota = quota(5, 'day', { name: 'daily' });
/** perMinute(6): T = 10 s, B = 6, tau = 60 s. */
export const PER_MINUTE_6: Limit = perMinute(6);

/** µs from T0 to the end of DAILY_5's window: 8 h 53 min 20 s. */
export const DAY_END = 32_000_000_000;
const S = 1_000_000;

/** What a step does. */
export type SettleOp =
  | { readonly kind: 'allow'; readonly key: string; readonly limit: AnyLimit; readonly cost?: number }
  | { readonly kind: 'allowAll'; readonly items: readonly { key: string; limit: AnyLimit; cost?: number }[]; readonly as?: string }
  | { readonly kind: 'reserve'; readonly key: string; readonly limit: AnyLimit; readonly cost: number; readonly as: string }
  | { readonly kind: 'settle'; readonly name: string; readonly actual: number | readonly number[] }
  | { readonly kind: 'refund' | 'penalize'; readonly key: string; readonly limit: AnyLimit; readonly n: number };

/** One step: an operation at a time, and its expected result or error code. */
export interface SettleStep {
  readonly at: number;
  readonly op: SettleOp;
  /** The expected result (deep-equal, `limit`s included). */
  readonly expect?: unknown;
  /** The expected LimiterError code, when the step rejects. */
  readonly error?: string;
}

/** A named sequence of steps on a fresh store. */
export interface SettleCase {
  readonly name: string;
  readonly steps: readonly SettleStep[];
}

const Q = DAILY_5;
const G = PER_MINUTE_6;
const ok = (limit: AnyLimit, granted: number, remaining: number, resetAfter: number) => ({ allowed: true, granted, remaining, retryAfter: 0, resetAfter, limit });
const no = (limit: AnyLimit, remaining: number, retryAfter: number, resetAfter: number) => ({ allowed: false, granted: 0, remaining, retryAfter, resetAfter, limit });
const adj = (limit: AnyLimit, refunded: number, charged: number, remaining: number, resetAfter: number, dropped = false) => ({ refunded, charged, dropped, remaining, resetAfter, limit });

export const SETTLE_CASES: readonly SettleCase[] = [
  {
    name: 'quota: takes until the window is used up, denials until it ends, never past the amount',
    steps: [
      // used 0 -> 2 of 5; resetAfter = 32,000 s.
      { at: 0, op: { kind: 'allow', key: 'q', limit: Q, cost: 2 }, expect: ok(Q, 2, 3, 32_000_000) },
      // 2 + 4 > 5: denied until the window ends (32,000 s - 1 s).
      { at: S, op: { kind: 'allow', key: 'q', limit: Q, cost: 4 }, expect: no(Q, 3, 31_999_000, 31_999_000) },
      // 6 > 5: never.
      { at: S, op: { kind: 'allow', key: 'q', limit: Q, cost: 6 }, expect: no(Q, 3, Infinity, 31_999_000) },
      { at: S, op: { kind: 'allow', key: 'q', limit: Q, cost: 3 }, expect: ok(Q, 3, 0, 31_999_000) },
      // A peek of a used-up window passes and takes nothing.
      { at: 2 * S, op: { kind: 'allow', key: 'q', limit: Q, cost: 0 }, expect: ok(Q, 0, 0, 31_998_000) },
      { at: 2 * S, op: { kind: 'allow', key: 'q', limit: Q, cost: 1 }, expect: no(Q, 0, 31_998_000, 31_998_000) },
      // The next UTC day is a new window of 24 h.
      { at: DAY_END, op: { kind: 'allow', key: 'q', limit: Q, cost: 5 }, expect: ok(Q, 5, 0, 86_400_000) },
    ],
  },
  {
    name: 'quota: settle refunds the difference, charges the excess into a debt; refunds never below zero usage',
    steps: [
      { at: 0, op: { kind: 'reserve', key: 'q', limit: Q, cost: 4, as: 'r1' }, expect: ok(Q, 4, 1, 32_000_000) },
      // used 4 -> 1: 3 back.
      { at: S, op: { kind: 'settle', name: 'r1', actual: 1 }, expect: adj(Q, 3, 0, 4, 31_999_000) },
      { at: S, op: { kind: 'settle', name: 'r1', actual: 1 }, error: 'ERR_SETTLE' },
      // used 1 -> 3.
      { at: 2 * S, op: { kind: 'reserve', key: 'q', limit: Q, cost: 2, as: 'r2' }, expect: ok(Q, 2, 2, 31_998_000) },
      // used 3 -> 7 (4 beyond the estimate): past the amount, remaining 0.
      { at: 3 * S, op: { kind: 'settle', name: 'r2', actual: 6 }, expect: adj(Q, 0, 4, 0, 31_997_000) },
      { at: 4 * S, op: { kind: 'allow', key: 'q', limit: Q, cost: 1 }, expect: no(Q, 0, 31_996_000, 31_996_000) },
      // used 7 -> 4.
      { at: 4 * S, op: { kind: 'refund', key: 'q', limit: Q, n: 3 }, expect: adj(Q, 3, 0, 1, 31_996_000) },
      // used 4 -> 0, not below: 4 back.
      { at: 4 * S, op: { kind: 'refund', key: 'q', limit: Q, n: 100 }, expect: adj(Q, 4, 0, 5, 31_996_000) },
      { at: 4 * S, op: { kind: 'allow', key: 'q', limit: Q, cost: 5 }, expect: ok(Q, 5, 0, 31_996_000) },
    ],
  },
  {
    name: 'quota: a settlement after the reservation\'s window ended is dropped; penalize charges the current window',
    steps: [
      { at: 0, op: { kind: 'reserve', key: 'q', limit: Q, cost: 5, as: 'r' }, expect: ok(Q, 5, 0, 32_000_000) },
      // 1 s into the next day: the reserved window is gone, the new one untouched (24 h - 1 s left).
      { at: DAY_END + S, op: { kind: 'settle', name: 'r', actual: 0 }, expect: adj(Q, 0, 0, 5, 86_399_000, true) },
      { at: DAY_END + S, op: { kind: 'settle', name: 'r', actual: 0 }, error: 'ERR_SETTLE' },
      { at: DAY_END + S, op: { kind: 'penalize', key: 'q', limit: Q, n: 2 }, expect: adj(Q, 0, 2, 3, 86_399_000) },
      { at: DAY_END + S, op: { kind: 'allow', key: 'q', limit: Q, cost: 4 }, expect: no(Q, 3, 86_399_000, 86_399_000) },
    ],
  },
  {
    name: 'rate: settle moves the TAT by the difference, an excess becomes a debt that delays later requests',
    steps: [
      // TAT 0 -> 40 s: remaining floor((0 - (40 - 60)) / 10) = 2.
      { at: 0, op: { kind: 'reserve', key: 'g', limit: G, cost: 4, as: 'r1' }, expect: ok(G, 4, 2, 40_000) },
      // 3 back: TAT 40 -> 10 s; at 1 s: remaining floor((60 - 9) / 10) = 5, resetAfter 9 s.
      { at: S, op: { kind: 'settle', name: 'r1', actual: 1 }, expect: adj(G, 3, 0, 5, 9_000) },
      // TAT 10 -> 30 s; remaining floor((1 - (30 - 60)) / 10) = 3.
      { at: S, op: { kind: 'reserve', key: 'g', limit: G, cost: 2, as: 'r2' }, expect: ok(G, 2, 3, 29_000) },
      // 8 more: TAT 30 -> 110 s, past now + tau (62 s): remaining 0, resetAfter 108 s.
      { at: 2 * S, op: { kind: 'settle', name: 'r2', actual: 10 }, expect: adj(G, 0, 8, 0, 108_000) },
      // One more unit: new 120 s, allowAt 60 s: retry in 58 s.
      { at: 2 * S, op: { kind: 'allow', key: 'g', limit: G }, expect: no(G, 0, 58_000, 108_000) },
      // Give everything back: the TAT stops at now (a full bucket); 108 s were ceil(10.8) = 11 units.
      { at: 2 * S, op: { kind: 'refund', key: 'g', limit: G, n: 100 }, expect: adj(G, 11, 0, 6, 0) },
      { at: 2 * S, op: { kind: 'allow', key: 'g', limit: G, cost: 0 }, expect: ok(G, 0, 6, 0) },
    ],
  },
  {
    name: 'rate: penalize empties the bucket into a debt; a refund of an absent key changes nothing',
    steps: [
      // TAT 0 -> 100 s.
      { at: 0, op: { kind: 'penalize', key: 'g', limit: G, n: 10 }, expect: adj(G, 0, 10, 0, 100_000) },
      // new 110 s, allowAt 50 s.
      { at: 0, op: { kind: 'allow', key: 'g', limit: G }, expect: no(G, 0, 50_000, 100_000) },
      // At 50 s: TAT 100 -> 110 s, remaining floor((50 - 50) / 10) = 0, resetAfter 60 s.
      { at: 50 * S, op: { kind: 'allow', key: 'g', limit: G }, expect: ok(G, 1, 0, 60_000) },
      { at: 50 * S, op: { kind: 'refund', key: 'other', limit: G, n: 3 }, expect: adj(G, 0, 0, 6, 0) },
      { at: 50 * S, op: { kind: 'penalize', key: 'other', limit: G, n: 0 }, expect: adj(G, 0, 0, 6, 0) },
    ],
  },
  {
    name: 'compound: settle(n) settles each item to n, settle([...]) each to its own, per item (never proportionally)',
    steps: [
      // u: TAT 0 -> 30 s, remaining 3; t: used 3, remaining 2 (the headline).
      {
        at: 0,
        op: { kind: 'allowAll', items: [{ key: 'u', limit: G, cost: 3 }, { key: 't', limit: Q, cost: 3 }], as: 'c1' },
        expect: { ...ok(Q, 3, 2, 32_000_000), items: [{ key: 'u', ...ok(G, 3, 3, 30_000) }, { key: 't', ...ok(Q, 3, 2, 32_000_000) }] },
      },
      // Both to 1: u TAT 30 -> 10 s (2 back; remaining floor((60 - 9) / 10) = 5), t used 3 -> 1 (2 back).
      {
        at: S,
        op: { kind: 'settle', name: 'c1', actual: 1 },
        expect: {
          ...adj(Q, 4, 0, 4, 31_999_000),
          items: [
            { key: 'u', ...adj(G, 2, 0, 5, 9_000) },
            { key: 't', ...adj(Q, 2, 0, 4, 31_999_000) },
          ],
        },
      },
      { at: S, op: { kind: 'settle', name: 'c1', actual: [1, 1] }, error: 'ERR_SETTLE' },
      // u: TAT 10 -> 20 s (remaining floor((1 - (20 - 60)) / 10) = 4); t: used 1 -> 2.
      {
        at: S,
        op: { kind: 'allowAll', items: [{ key: 'u', limit: G }, { key: 't', limit: Q }], as: 'c2' },
        expect: { ...ok(Q, 1, 3, 31_999_000), items: [{ key: 'u', ...ok(G, 1, 4, 19_000) }, { key: 't', ...ok(Q, 1, 3, 31_999_000) }] },
      },
      // u to 0: TAT 20 -> 10 s (at 2 s: remaining floor((60 - 8) / 10) = 5); t to 3: used 2 -> 4, remaining 1.
      {
        at: 2 * S,
        op: { kind: 'settle', name: 'c2', actual: [0, 3] },
        expect: {
          ...adj(Q, 1, 2, 1, 31_998_000),
          items: [
            { key: 'u', ...adj(G, 1, 0, 5, 8_000) },
            { key: 't', ...adj(Q, 0, 2, 1, 31_998_000) },
          ],
        },
      },
    ],
  },
  {
    name: 'compound: a denied item takes nothing from the quota; a denied reservation cannot be settled',
    steps: [
      // 7 > B = 6: never; the quota item could pass and reports its unchanged state.
      {
        at: 0,
        op: { kind: 'allowAll', items: [{ key: 'u', limit: G, cost: 7 }, { key: 't', limit: Q, cost: 1 }], as: 'd' },
        // The headline is the item with the least remaining (t: 5), the retry the largest among denied items.
        expect: {
          ...no(Q, 5, Infinity, 32_000_000),
          items: [{ key: 'u', ...no(G, 6, Infinity, 0) }, { key: 't', ...ok(Q, 0, 5, 32_000_000) }],
        },
      },
      { at: 0, op: { kind: 'settle', name: 'd', actual: 0 }, error: 'ERR_SETTLE' },
      { at: 0, op: { kind: 'allow', key: 't', limit: Q, cost: 0 }, expect: ok(Q, 0, 5, 32_000_000) },
      { at: 0, op: { kind: 'reserve', key: 't', limit: Q, cost: 9, as: 'big' }, expect: no(Q, 5, Infinity, 32_000_000) },
      { at: 0, op: { kind: 'settle', name: 'big', actual: 1 }, error: 'ERR_SETTLE' },
    ],
  },
];
