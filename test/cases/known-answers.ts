/**
 * Known-answer cases for the GCRA (SPEC sections 1-6), run unchanged against
 * both stores by test/known-answers.test.ts. Every expected number was worked
 * out by hand from the SPEC formulae (the arithmetic is in the comments); none
 * is computed by the code under test.
 *
 * Times: `at` and written TATs are microseconds after {@link T0}; expected
 * results are the public ones (ms, rounded up). All limits whose state spans
 * several steps have TTLs of seconds or more, because Redis expires keys in
 * real time while the test clock is fake.
 */
import { type Limit, perHour, perMinute } from '../../src/index.js';

/** The fixed start of every case: 2025-06-15T15:06:40Z in µs since the epoch. */
export const T0 = 1_750_000_000_000_000;

/** perMinute(3): T = 60e6/3 = 20_000_000 µs, B = 3, tau = 60_000_000 µs. */
export const PER_MINUTE_3 = perMinute(3);
/** perHour(1): T = 3_600_000_000 µs, B = 1, tau = 3_600_000_000 µs. */
export const PER_HOUR_1 = perHour(1);
/** perMinute(2, 5): T = 30_000_000 µs, B = 5, tau = 150_000_000 µs (burst above the rate). */
export const PER_MINUTE_2_BURST_5 = perMinute(2, 5);
/** 3 per 1000 ms: T = round(333_333.33) = 333_333 µs, B = 3, tau = 999_999 µs. */
export const THREE_PER_SECOND: Limit = { rate: 3, period: 1000 };
/** 3 per 1000 ms, burst 600: T = 333_333 µs, tau = 199_999_800 µs. */
export const THREE_PER_SECOND_BURST_600: Limit = { rate: 3, period: 1000, burst: 600 };
/** 16 per 60_001 ms: 60_001_000 / 16 = 3_750_062.5, half rounds up: T = 3_750_063, tau = 60_001_008. */
export const HALF_UP: Limit = { rate: 16, period: 60_001 };
/** 7 per 60_000 ms: 60e6 / 7 = 8_571_428.57 rounds to T = 8_571_429, tau = 60_000_003. */
export const SEVEN_PER_MINUTE: Limit = { rate: 7, period: 60_000 };
/** 3000 per 1 ms: 1000 / 3000 = 0.33 rounds to 0, so T = max(1, 0) = 1 µs, tau = 3000 µs. */
export const TINY_INTERVAL: Limit = { rate: 3000, period: 1 };

/** The public result fields a step expects (the runner adds `limit` for single-item steps). */
export interface Expected {
  readonly allowed: boolean;
  readonly granted: number;
  readonly remaining: number;
  readonly retryAfter: number;
  readonly resetAfter: number;
}

/** An expected per-item result of a compound check. */
export interface ExpectedItem extends Expected {
  readonly key: string;
  readonly limit: Limit;
}

/** An expected compound (`allowAll`) result. */
export interface ExpectedCompound extends Expected {
  readonly limit: Limit;
  readonly items: readonly ExpectedItem[];
}

/** One `SET key tat PX px` the Redis script must run in a step. */
export interface Write {
  readonly key: string;
  /** The TAT written, µs after T0. */
  readonly tat: number;
  /** The PX argument: ceil((tat - now) / 1000) ms. */
  readonly px: number;
}

/** What a step does. */
export type Op =
  | { readonly kind: 'allow'; readonly key: string; readonly limit: Limit; readonly cost?: number }
  | { readonly kind: 'atMost'; readonly key: string; readonly limit: Limit; readonly n: number }
  | { readonly kind: 'peek'; readonly key: string; readonly limit: Limit }
  | { readonly kind: 'allowAll'; readonly items: readonly { key: string; limit: Limit; cost?: number }[] }
  | { readonly kind: 'reset'; readonly keys: readonly string[] };

/** One step of a case: an operation at a time, and what must come of it. */
export interface Step {
  /** µs after T0. */
  readonly at: number;
  readonly op: Op;
  /** The expected result (absent for reset). */
  readonly expect?: Expected | ExpectedCompound;
  /** Exactly the writes Redis must make, in order (default: none at all). */
  readonly writes?: readonly Write[];
  /** Keys that must not exist afterwards (Redis EXISTS). */
  readonly absent?: readonly string[];
  /** MemoryStore key count afterwards. */
  readonly size?: number;
}

/** A named sequence of steps on a fresh store. */
export interface Case {
  readonly name: string;
  readonly steps: readonly Step[];
}

const ok = (remaining: number, resetAfter: number, granted = 1): Expected => ({ allowed: true, granted, remaining, retryAfter: 0, resetAfter });
const no = (remaining: number, retryAfter: number, resetAfter: number): Expected => ({ allowed: false, granted: 0, remaining, retryAfter, resetAfter });

const L = PER_MINUTE_3;

/** The table. */
export const CASES: readonly Case[] = [
  {
    name: 'fresh key: the first unit is taken',
    steps: [
      // tat = now; new = now + 20e6; allowAt = new - 60e6 = now - 40e6; remaining = 40e6 / 20e6 = 2.
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 20_000_000, px: 20_000 }], size: 1 },
    ],
  },
  {
    name: 'drain a burst, then deny with exact retryAfter, remaining and resetAfter (rounded up)',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 20_000_000, px: 20_000 }] },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(1, 40_000), writes: [{ key: 'k', tat: 40_000_000, px: 40_000 }] },
      // new = 60e6, allowAt = 0 = now: allowed (denied only when now < allowAt).
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(0, 60_000), writes: [{ key: 'k', tat: 60_000_000, px: 60_000 }] },
      // new = 80e6, allowAt = 20e6 > 0: retryAfter 20e6 µs; free = tau - used = 0; resetAfter = used = 60e6.
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: no(0, 20_000, 60_000), size: 1 },
      // now = 1700: retryAfter = 20e6 - 1700 = 19_998_300 µs -> 19_999 ms (up, not 19_998);
      // resetAfter = 60e6 - 1700 = 59_998_300 µs -> 59_999 ms; free = 1700 < T -> remaining 0.
      { at: 1700, op: { kind: 'allow', key: 'k', limit: L }, expect: no(0, 19_999, 59_999) },
    ],
  },
  {
    name: 'recover as time passes',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 3 }, expect: ok(0, 60_000, 3), writes: [{ key: 'k', tat: 60_000_000, px: 60_000 }] },
      // now = 20e6 - 1: allowAt = 60e6 + 20e6 - 60e6 = 20e6; retryAfter 1 µs -> 1 ms; used = 40_000_001 -> 40_001 ms.
      { at: 19_999_999, op: { kind: 'allow', key: 'k', limit: L }, expect: no(0, 1, 40_001) },
      // now = 20e6 = allowAt: allowed; new = 80e6; remaining = (20e6 - 20e6) / T = 0; resetAfter = 60e6.
      { at: 20_000_000, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(0, 60_000), writes: [{ key: 'k', tat: 80_000_000, px: 60_000 }] },
      // now = 50e6, tat = 80e6: peek allowAt = 20e6; remaining = floor(30e6 / 20e6) = 1; resetAfter = 30e6.
      { at: 50_000_000, op: { kind: 'peek', key: 'k', limit: L }, expect: ok(1, 30_000, 0) },
      // now = 90e6 > tat: the bucket is full again; new = 110e6.
      { at: 90_000_000, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 110_000_000, px: 20_000 }], size: 1 },
    ],
  },
  {
    name: 'cost 0 is a peek: it never creates or writes a key',
    steps: [
      // new = tat = now; allowAt = now - 60e6; remaining = 3; resetAfter = 0.
      { at: 0, op: { kind: 'peek', key: 'k', limit: L }, expect: ok(3, 0, 0), absent: ['k'], size: 0 },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 0 }, expect: ok(3, 0, 0), absent: ['k'], size: 0 },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 3 }, expect: ok(0, 60_000, 3), writes: [{ key: 'k', tat: 60_000_000, px: 60_000 }] },
      // Drained: new = tat = 60e6, allowAt = 0 = now: a peek is still allowed and reports 0 left.
      { at: 0, op: { kind: 'peek', key: 'k', limit: L }, expect: ok(0, 60_000, 0), size: 1 },
    ],
  },
  {
    name: 'cost above the burst can never pass: retryAfter Infinity, nothing written',
    steps: [
      // n = 4 > B = 3: denied; free = tau = 60e6 -> remaining 3; resetAfter 0.
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 4 }, expect: no(3, Infinity, 0), absent: ['k'], size: 0 },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 20_000_000, px: 20_000 }] },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 4 }, expect: no(2, Infinity, 20_000) },
    ],
  },
  {
    name: 'burst above the rate: perMinute(2, 5)',
    steps: [
      // T = 30e6, tau = 150e6: cost 5 on a fresh key: new = 150e6, allowAt = 0 -> allowed, remaining 0.
      { at: 0, op: { kind: 'allow', key: 'k', limit: PER_MINUTE_2_BURST_5, cost: 5 }, expect: ok(0, 150_000, 5), writes: [{ key: 'k', tat: 150_000_000, px: 150_000 }] },
      { at: 0, op: { kind: 'allow', key: 'k', limit: PER_MINUTE_2_BURST_5, cost: 6 }, expect: no(0, Infinity, 150_000) },
      // now = 30e6: new = 180e6, allowAt = 30e6 = now -> allowed; resetAfter = 150e6.
      { at: 30_000_000, op: { kind: 'allow', key: 'k', limit: PER_MINUTE_2_BURST_5 }, expect: ok(0, 150_000), writes: [{ key: 'k', tat: 180_000_000, px: 150_000 }] },
    ],
  },
  {
    name: 'a denied cost reports the real remaining, not a flat 0',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 20_000_000, px: 20_000 }] },
      // cost 3: new = 80e6, allowAt = 20e6 -> retryAfter 20e6; free = 40e6 -> remaining 2; resetAfter = 20e6.
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 3 }, expect: no(2, 20_000, 20_000) },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 2 }, expect: ok(0, 60_000, 2), writes: [{ key: 'k', tat: 60_000_000, px: 60_000 }] },
    ],
  },
  {
    name: 'allowAtMost grants whole units and advances the TAT by exactly g*T',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 20_000_000, px: 20_000 }] },
      // avail = floor((60e6 - 20e6) / 20e6) = 2; g = min(5, 2) = 2; new = 20e6 + 2 * 20e6 = 60e6.
      { at: 0, op: { kind: 'atMost', key: 'k', limit: L, n: 5 }, expect: ok(0, 60_000, 2), writes: [{ key: 'k', tat: 60_000_000, px: 60_000 }] },
      // avail = 0: retryAfter = T - (tau - used) = 20e6 - 0.
      { at: 0, op: { kind: 'atMost', key: 'k', limit: L, n: 1 }, expect: no(0, 20_000, 60_000) },
      // now = 10_000_005: used = 49_999_995, free = 10_000_005 < T: retryAfter = 9_999_995 µs -> 10_000 ms.
      { at: 10_000_005, op: { kind: 'atMost', key: 'k', limit: L, n: 5 }, expect: no(0, 10_000, 50_000) },
      // now = 20_000_007: free = 20_000_007 -> avail 1; new = 60e6 + 20e6 = 80e6 (not now-based);
      // resetAfter = 80e6 - 20_000_007 = 59_999_993 µs -> 60_000 ms, and PX = ceil(59_999.993) = 60_000.
      { at: 20_000_007, op: { kind: 'atMost', key: 'k', limit: L, n: 5 }, expect: ok(0, 60_000, 1), writes: [{ key: 'k', tat: 80_000_000, px: 60_000 }] },
      // now = 80_000_007 > tat: full; avail 3, g 2, new = now + 40e6.
      { at: 80_000_007, op: { kind: 'atMost', key: 'k', limit: L, n: 2 }, expect: ok(1, 40_000, 2), writes: [{ key: 'k', tat: 120_000_007, px: 40_000 }] },
    ],
  },
  {
    name: 'allowAtMost on a fresh key takes n when n units are available',
    steps: [{ at: 0, op: { kind: 'atMost', key: 'k', limit: L, n: 2 }, expect: ok(1, 40_000, 2), writes: [{ key: 'k', tat: 40_000_000, px: 40_000 }], size: 1 }],
  },
  {
    name: 'allowAll takes from every item when all pass, and nothing when one denies',
    steps: [
      {
        at: 0,
        op: { kind: 'allowAll', items: [{ key: 'user', limit: L }, { key: 'tenant', limit: PER_HOUR_1 }] },
        // user: remaining 2, reset 20e6. tenant: new = 3.6e9, allowAt = 0 -> allowed, remaining 0.
        // Headline = the item with the least remaining (tenant).
        expect: {
          allowed: true,
          granted: 1,
          remaining: 0,
          retryAfter: 0,
          resetAfter: 3_600_000,
          limit: PER_HOUR_1,
          items: [
            { key: 'user', limit: L, ...ok(2, 20_000) },
            { key: 'tenant', limit: PER_HOUR_1, ...ok(0, 3_600_000) },
          ],
        },
        writes: [
          { key: 'user', tat: 20_000_000, px: 20_000 },
          { key: 'tenant', tat: 3_600_000_000, px: 3_600_000 },
        ],
        size: 2,
      },
      {
        at: 1000,
        op: { kind: 'allowAll', items: [{ key: 'user', limit: L }, { key: 'tenant', limit: PER_HOUR_1 }] },
        // tenant: new = 7.2e9, allowAt = 3.6e9: retryAfter = 3.6e9 - 1000 -> 3_599_999 ms; used = same.
        // user passes on its own but is not written: used = 19_999_000 -> 19_999 ms; free = 40_001_000 -> 2.
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 3_599_999,
          resetAfter: 3_599_999,
          limit: PER_HOUR_1,
          items: [
            { key: 'user', limit: L, allowed: true, granted: 0, remaining: 2, retryAfter: 0, resetAfter: 19_999 },
            { key: 'tenant', limit: PER_HOUR_1, ...no(0, 3_599_999, 3_599_999) },
          ],
        },
        size: 2,
      },
      // user unchanged: tat 20e6; peek at 1000: remaining = floor((1000 + 40e6) / 20e6) = 2.
      { at: 1000, op: { kind: 'peek', key: 'user', limit: L }, expect: ok(2, 19_999, 0) },
    ],
  },
  {
    name: 'allowAll: retryAfter is the largest among denied items, Infinity when one can never pass',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'tenant', limit: PER_HOUR_1 }, expect: ok(0, 3_600_000), writes: [{ key: 'tenant', tat: 3_600_000_000, px: 3_600_000 }] },
      {
        at: 500_000,
        op: { kind: 'allowAll', items: [{ key: 'user', limit: L, cost: 2 }, { key: 'tenant', limit: PER_HOUR_1 }] },
        // user fresh, passes alone, not written: remaining 3, resetAfter 0.
        // tenant: retryAfter = 3.6e9 - 0.5e6 = 3_599_500_000 µs; resetAfter the same.
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 3_599_500,
          resetAfter: 3_599_500,
          limit: PER_HOUR_1,
          items: [
            { key: 'user', limit: L, allowed: true, granted: 0, remaining: 3, retryAfter: 0, resetAfter: 0 },
            { key: 'tenant', limit: PER_HOUR_1, ...no(0, 3_599_500, 3_599_500) },
          ],
        },
        absent: ['user'],
        size: 1,
      },
      // a: tat = 0.5e6 + 20e6.
      { at: 500_000, op: { kind: 'allow', key: 'a', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'a', tat: 20_500_000, px: 20_000 }] },
      {
        at: 500_000,
        op: { kind: 'allowAll', items: [{ key: 'a', limit: L, cost: 3 }, { key: 'tenant', limit: PER_HOUR_1 }] },
        // a: new = 80.5e6, allowAt = 20.5e6: retryAfter 20e6; free = 40e6 -> 2; resetAfter 20e6.
        // Both denied: retryAfter = max(20_000, 3_599_500); headline = tenant (0 < 2).
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 3_599_500,
          resetAfter: 3_599_500,
          limit: PER_HOUR_1,
          items: [
            { key: 'a', limit: L, ...no(2, 20_000, 20_000) },
            { key: 'tenant', limit: PER_HOUR_1, ...no(0, 3_599_500, 3_599_500) },
          ],
        },
      },
      {
        at: 500_000,
        op: { kind: 'allowAll', items: [{ key: 'a', limit: L, cost: 4 }, { key: 'b', limit: L }] },
        // a: cost 4 > B: never. b passes alone, not written (remaining 3). Headline = a (2 < 3).
        expect: {
          allowed: false,
          granted: 0,
          remaining: 2,
          retryAfter: Infinity,
          resetAfter: 20_000,
          limit: L,
          items: [
            { key: 'a', limit: L, ...no(2, Infinity, 20_000) },
            { key: 'b', limit: L, allowed: true, granted: 0, remaining: 3, retryAfter: 0, resetAfter: 0 },
          ],
        },
        absent: ['b'],
        size: 2,
      },
    ],
  },
  {
    name: 'allowAll naming one key twice takes from it in order',
    steps: [
      {
        at: 0,
        op: { kind: 'allowAll', items: [{ key: 'k', limit: L }, { key: 'k', limit: L }] },
        // first: new = 20e6 (remaining 2); second sees the pending 20e6: new = 40e6 (remaining 1).
        expect: {
          allowed: true,
          granted: 1,
          remaining: 1,
          retryAfter: 0,
          resetAfter: 40_000,
          limit: L,
          items: [
            { key: 'k', limit: L, ...ok(2, 20_000) },
            { key: 'k', limit: L, ...ok(1, 40_000) },
          ],
        },
        writes: [
          { key: 'k', tat: 20_000_000, px: 20_000 },
          { key: 'k', tat: 40_000_000, px: 40_000 },
        ],
        size: 1,
      },
    ],
  },
  {
    name: 'reset empties the bucket',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: L, cost: 3 }, expect: ok(0, 60_000, 3), writes: [{ key: 'k', tat: 60_000_000, px: 60_000 }] },
      { at: 0, op: { kind: 'reset', keys: ['k'] }, absent: ['k'], size: 0 },
      { at: 0, op: { kind: 'allow', key: 'k', limit: L }, expect: ok(2, 20_000), writes: [{ key: 'k', tat: 20_000_000, px: 20_000 }] },
    ],
  },
  {
    name: 'a key checked under a smaller limit than the one that filled it (tat - now > tau)',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: PER_HOUR_1 }, expect: ok(0, 3_600_000), writes: [{ key: 'k', tat: 3_600_000_000, px: 3_600_000 }] },
      // peek under L: new = 3.6e9, allowAt = 3.6e9 - 60e6 = 3.54e9 > now: denied (finite: 0 <= B);
      // free = 60e6 - 3.6e9 < 0 -> remaining 0; resetAfter = 3.6e9.
      { at: 0, op: { kind: 'peek', key: 'k', limit: L }, expect: no(0, 3_540_000, 3_600_000) },
      // allowAtMost: free clamps to 0; retryAfter = T - (tau - used) = 20e6 - 60e6 + 3.6e9 = 3.56e9.
      { at: 0, op: { kind: 'atMost', key: 'k', limit: L, n: 1 }, expect: no(0, 3_560_000, 3_600_000) },
    ],
  },
  {
    name: 'emission interval rounds down: 3 per 1000 ms gives T = 333_333 µs',
    steps: [
      // new = 333_333; allowAt = 333_333 - 999_999 = -666_666; remaining 2; resetAfter 333.333 -> 334 ms.
      { at: 0, op: { kind: 'allow', key: 'k', limit: THREE_PER_SECOND }, expect: ok(2, 334), writes: [{ key: 'k', tat: 333_333, px: 334 }] },
    ],
  },
  {
    name: 'emission interval 333_333 µs over a long burst (600)',
    steps: [
      // cost 599: new = 599 * 333_333 = 199_666_467; allowAt = -333_333; remaining 1; reset 199_666.467 -> 199_667.
      {
        at: 0,
        op: { kind: 'allow', key: 'k', limit: THREE_PER_SECOND_BURST_600, cost: 599 },
        expect: ok(1, 199_667, 599),
        writes: [{ key: 'k', tat: 199_666_467, px: 199_667 }],
      },
      // cost 2: new = 200_333_133; allowAt = 333_333: retryAfter 333.333 -> 334 ms.
      { at: 0, op: { kind: 'allow', key: 'k', limit: THREE_PER_SECOND_BURST_600, cost: 2 }, expect: no(1, 334, 199_667) },
      // now = 1: new = 199_999_800, allowAt = 0 <= 1: allowed; remaining floor(1 / T) = 0;
      // resetAfter = 199_999_799 µs -> 200_000 ms.
      { at: 1, op: { kind: 'allow', key: 'k', limit: THREE_PER_SECOND_BURST_600 }, expect: ok(0, 200_000), writes: [{ key: 'k', tat: 199_999_800, px: 200_000 }] },
    ],
  },
  {
    name: 'emission interval rounds half up: 16 per 60_001 ms gives T = 3_750_063 µs',
    steps: [
      // remaining = floor((60_001_008 - 3_750_063) / 3_750_063) = 15 exactly; reset 3750.063 -> 3751.
      { at: 0, op: { kind: 'allow', key: 'k', limit: HALF_UP }, expect: ok(15, 3_751), writes: [{ key: 'k', tat: 3_750_063, px: 3_751 }] },
      // cost 15: new = 16 * 3_750_063 = 60_001_008 = tau; allowAt 0: allowed; reset 60_001.008 -> 60_002.
      { at: 0, op: { kind: 'allow', key: 'k', limit: HALF_UP, cost: 15 }, expect: ok(0, 60_002, 15), writes: [{ key: 'k', tat: 60_001_008, px: 60_002 }] },
    ],
  },
  {
    name: 'emission interval rounds up: 7 per minute gives T = 8_571_429 µs',
    steps: [
      { at: 0, op: { kind: 'allow', key: 'k', limit: SEVEN_PER_MINUTE }, expect: ok(6, 8_572), writes: [{ key: 'k', tat: 8_571_429, px: 8_572 }] },
      // cost 6: new = 7 * 8_571_429 = 60_000_003; reset 60_000.003 -> 60_001 ms.
      { at: 0, op: { kind: 'allow', key: 'k', limit: SEVEN_PER_MINUTE, cost: 6 }, expect: ok(0, 60_001, 6), writes: [{ key: 'k', tat: 60_000_003, px: 60_001 }] },
    ],
  },
  {
    name: 'emission interval is at least 1 µs: 3000 per 1 ms',
    steps: [
      // T = 1, tau = 3000: remaining 2999; resetAfter 1 µs -> 1 ms; PX 1.
      { at: 0, op: { kind: 'allow', key: 'k', limit: TINY_INTERVAL }, expect: ok(2999, 1), writes: [{ key: 'k', tat: 1, px: 1 }] },
    ],
  },
];
