/**
 * Known-answer cases for concurrency limits (issue 13), run unchanged
 * against both stores by test/concurrency-answers.test.ts with a fixed client
 * clock. Every expected number was worked out by hand from the rules in
 * lua/concurrency.lua (a lease is held while now < its expiry; an acquire
 * passes while fewer than max leases are held, counting earlier items of
 * the same check; a denial's retryAfter, and resetAfter, is the time until
 * the oldest held lease expires; a granted lease's resetAfter is its ttl);
 * none is computed by the code under test.
 *
 * Times: `at` and expiries are µs after T0 (test/cases/known-answers.ts).
 * Public results are ms: retryAfter and resetAfter rounded up, expiresAt the
 * epoch ms of the expiry ({@link ms}). All ttls are seconds long, and no case
 * passes a key's keep time (one ttl past its newest lease), because Redis
 * expires keys in real time while the test clock is fake.
 */
import { type ConcurrencyLimit, type Limit, concurrency, perMinute } from '../../src/index.js';
import { T0 } from './known-answers.js';

/** concurrency(2, { ttl: 10 s }): ttl = 10_000_000 µs. */
export const TWO: ConcurrencyLimit = concurrency(2, { ttl: 10_000 });
/** concurrency(1, { ttl: 20 s }): ttl = 20_000_000 µs. */
export const ONE: ConcurrencyLimit = concurrency(1, { ttl: 20_000 });
/** perMinute(1): T = tau = 60_000_000 µs. */
export const RATE: Limit = perMinute(1);

/** The epoch ms of the instant `rel` µs after T0 (what `expiresAt` reports). */
export const ms = (rel: number): number => Math.floor((T0 + rel) / 1000);

/** An expected lease (the fields of `Lease` a step checks). */
export interface ExpectedLease {
  readonly allowed: boolean;
  readonly inFlight: number;
  readonly remaining: number;
  readonly retryAfter: number;
  readonly expiresAt: number;
}

/** An item of an `allowAll` step. */
export interface MixItem {
  readonly key: string;
  readonly limit: Limit | ConcurrencyLimit;
}

/** What a step does; `as` names a lease (or an allowAll result) for later steps. */
export type LeaseOp =
  | { readonly kind: 'acquire'; readonly key: string; readonly limit: ConcurrencyLimit; readonly as?: string }
  | { readonly kind: 'release'; readonly lease: string }
  | { readonly kind: 'extend'; readonly lease: string; readonly ttl?: number }
  | { readonly kind: 'allowAll'; readonly items: readonly MixItem[]; readonly as?: string }
  | { readonly kind: 'releaseAll'; readonly result: string };

/** One step: an operation at a time, what it must answer, and the leases Redis must then hold. */
export interface LeaseStep {
  /** µs after T0. */
  readonly at: number;
  readonly op: LeaseOp;
  /** acquire: the lease; release: true when it was held; extend: the new expiresAt, or the error code; allowAll: the plain result. */
  readonly expect: ExpectedLease | boolean | number | string | object | undefined;
  /** Redis: the expiries (µs after T0) each key's sorted set then holds, in order; `[]` when the key must not exist. */
  readonly leases?: Readonly<Record<string, readonly number[]>>;
}

/** A named sequence of steps on a fresh store. */
export interface LeaseCase {
  readonly name: string;
  readonly steps: readonly LeaseStep[];
}

const lease = (allowed: boolean, inFlight: number, remaining: number, retryAfter: number, expiresAt: number): ExpectedLease => ({ allowed, inFlight, remaining, retryAfter, expiresAt });

/** The table. */
export const LEASE_CASES: readonly LeaseCase[] = [
  {
    name: 'takes up to max leases, then denies until the oldest expires; an expired lease frees its slot',
    steps: [
      // count 0 < 2: expiry 0 + 10e6.
      { at: 0, op: { kind: 'acquire', key: 'k', limit: TWO, as: 'a' }, expect: lease(true, 1, 1, 0, ms(10_000_000)), leases: { k: [10_000_000] } },
      { at: 1_000_000, op: { kind: 'acquire', key: 'k', limit: TWO, as: 'b' }, expect: lease(true, 2, 0, 0, ms(11_000_000)), leases: { k: [10_000_000, 11_000_000] } },
      // Full: the oldest (a) expires 10e6 - 2e6 = 8e6 µs from now.
      { at: 2_000_000, op: { kind: 'acquire', key: 'k', limit: TWO }, expect: lease(false, 2, 0, 8_000, 0) },
      // 1 µs before a expires: retryAfter 1 µs, rounded up to 1 ms.
      { at: 9_999_999, op: { kind: 'acquire', key: 'k', limit: TWO }, expect: lease(false, 2, 0, 1, 0) },
      // now = a's expiry: a is no longer held (held while now < expiry), so it is removed and its slot taken.
      { at: 10_000_000, op: { kind: 'acquire', key: 'k', limit: TWO, as: 'c' }, expect: lease(true, 2, 0, 0, ms(20_000_000)), leases: { k: [11_000_000, 20_000_000] } },
      { at: 10_000_000, op: { kind: 'release', lease: 'a' }, expect: false },
      { at: 10_500_000, op: { kind: 'release', lease: 'b' }, expect: true, leases: { k: [20_000_000] } },
      { at: 10_500_000, op: { kind: 'release', lease: 'b' }, expect: false },
      { at: 10_500_000, op: { kind: 'release', lease: 'c' }, expect: true, leases: { k: [] } },
      { at: 10_600_000, op: { kind: 'acquire', key: 'k', limit: TWO }, expect: lease(true, 1, 1, 0, ms(20_600_000)), leases: { k: [20_600_000] } },
    ],
  },
  {
    name: 'extend renews a lease from now, with the default or a given ttl; extending an expired lease fails',
    steps: [
      { at: 0, op: { kind: 'acquire', key: 'k', limit: ONE, as: 'a' }, expect: lease(true, 1, 0, 0, ms(20_000_000)), leases: { k: [20_000_000] } },
      // Default ttl 20 s from now = 15e6.
      { at: 15_000_000, op: { kind: 'extend', lease: 'a' }, expect: ms(35_000_000), leases: { k: [35_000_000] } },
      // Past a's first ttl: still held, 35e6 - 25e6 = 10e6 µs left.
      { at: 25_000_000, op: { kind: 'acquire', key: 'k', limit: ONE }, expect: lease(false, 1, 0, 10_000, 0) },
      // ttl 1000 ms from 30e6.
      { at: 30_000_000, op: { kind: 'extend', lease: 'a', ttl: 1_000 }, expect: ms(31_000_000), leases: { k: [31_000_000] } },
      { at: 31_000_000, op: { kind: 'acquire', key: 'k', limit: ONE, as: 'b' }, expect: lease(true, 1, 0, 0, ms(51_000_000)), leases: { k: [51_000_000] } },
      { at: 31_000_000, op: { kind: 'extend', lease: 'a' }, expect: 'ERR_LEASE_EXPIRED' },
      { at: 31_000_000, op: { kind: 'release', lease: 'a' }, expect: false, leases: { k: [51_000_000] } },
    ],
  },
  {
    name: 'a rate item and a concurrency item in one check: a denial of either takes nothing from the other',
    steps: [
      {
        at: 0,
        op: { kind: 'allowAll', items: [{ key: 'u', limit: RATE }, { key: 'c', limit: ONE }], as: 'r1' },
        // Both pass; u: remaining 0, resetAfter 60e6; c: one lease of one, expiring at 20e6. Headline: the first of the smallest remaining (u).
        expect: {
          allowed: true,
          granted: 1,
          remaining: 0,
          retryAfter: 0,
          resetAfter: 60_000,
          limit: RATE,
          items: [
            { key: 'u', allowed: true, granted: 1, remaining: 0, retryAfter: 0, resetAfter: 60_000, limit: RATE },
            { key: 'c', allowed: true, granted: 1, remaining: 0, retryAfter: 0, resetAfter: 20_000, limit: ONE, inFlight: 1, expiresAt: ms(20_000_000) },
          ],
        },
        leases: { c: [20_000_000] },
      },
      {
        at: 1_000_000,
        op: { kind: 'allowAll', items: [{ key: 'u2', limit: RATE }, { key: 'c', limit: ONE }] },
        // c is full (its lease expires in 19e6): denied; u2 passes alone but is not charged (remaining 1, nothing stored).
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 19_000,
          resetAfter: 19_000,
          limit: ONE,
          items: [
            { key: 'u2', allowed: true, granted: 0, remaining: 1, retryAfter: 0, resetAfter: 0, limit: RATE },
            { key: 'c', allowed: false, granted: 0, remaining: 0, retryAfter: 19_000, resetAfter: 19_000, limit: ONE, inFlight: 1, expiresAt: 0 },
          ],
        },
        leases: { c: [20_000_000] },
      },
      {
        at: 2_000_000,
        op: { kind: 'allowAll', items: [{ key: 'u', limit: RATE }, { key: 'c2', limit: ONE }] },
        // u's TAT is 60e6: allowAt = 60e6 + 60e6 - 60e6 = 60e6, retryAfter 58e6; resetAfter 58e6. c2 passes alone: no lease taken.
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 58_000,
          resetAfter: 58_000,
          limit: RATE,
          items: [
            { key: 'u', allowed: false, granted: 0, remaining: 0, retryAfter: 58_000, resetAfter: 58_000, limit: RATE },
            { key: 'c2', allowed: true, granted: 0, remaining: 1, retryAfter: 0, resetAfter: 0, limit: ONE, inFlight: 0, expiresAt: 0 },
          ],
        },
        leases: { c: [20_000_000], c2: [] },
      },
      { at: 3_000_000, op: { kind: 'releaseAll', result: 'r1' }, expect: undefined, leases: { c: [] } },
      { at: 3_000_000, op: { kind: 'acquire', key: 'c', limit: ONE }, expect: lease(true, 1, 0, 0, ms(23_000_000)), leases: { c: [23_000_000] } },
    ],
  },
  {
    name: 'the same concurrency key twice in one check: the second item counts the first',
    steps: [
      {
        at: 0,
        op: { kind: 'allowAll', items: [{ key: 'x', limit: TWO }, { key: 'x', limit: TWO }] },
        // Item 1: 0 held -> inFlight 1; item 2: 1 held -> inFlight 2. Both expire at 10e6.
        expect: {
          allowed: true,
          granted: 1,
          remaining: 0,
          retryAfter: 0,
          resetAfter: 10_000,
          limit: TWO,
          items: [
            { key: 'x', allowed: true, granted: 1, remaining: 1, retryAfter: 0, resetAfter: 10_000, limit: TWO, inFlight: 1, expiresAt: ms(10_000_000) },
            { key: 'x', allowed: true, granted: 1, remaining: 0, retryAfter: 0, resetAfter: 10_000, limit: TWO, inFlight: 2, expiresAt: ms(10_000_000) },
          ],
        },
        leases: { x: [10_000_000, 10_000_000] },
      },
      { at: 500_000, op: { kind: 'acquire', key: 'y', limit: TWO, as: 'y1' }, expect: lease(true, 1, 1, 0, ms(10_500_000)), leases: { y: [10_500_000] } },
      {
        at: 1_000_000,
        op: { kind: 'allowAll', items: [{ key: 'y', limit: TWO }, { key: 'y', limit: TWO }] },
        // Item 1 passes alone (1 held); item 2 would be the third: denied, retry (and reset) when y1 expires
        // (10.5e6 - 1e6). Item 1 reports the key unchanged: nothing taken, so no lease to free itself (resetAfter 0).
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 9_500,
          resetAfter: 9_500,
          limit: TWO,
          items: [
            { key: 'y', allowed: true, granted: 0, remaining: 1, retryAfter: 0, resetAfter: 0, limit: TWO, inFlight: 1, expiresAt: 0 },
            { key: 'y', allowed: false, granted: 0, remaining: 0, retryAfter: 9_500, resetAfter: 9_500, limit: TWO, inFlight: 2, expiresAt: 0 },
          ],
        },
        leases: { y: [10_500_000] },
      },
      {
        at: 2_000_000,
        op: { kind: 'allowAll', items: [{ key: 'z', limit: ONE }, { key: 'z', limit: ONE }] },
        // None held: item 1 passes alone; item 2 is full only by item 1's would-be lease (expiring 22e6): retry in 20e6.
        expect: {
          allowed: false,
          granted: 0,
          remaining: 0,
          retryAfter: 20_000,
          resetAfter: 20_000,
          limit: ONE,
          items: [
            { key: 'z', allowed: true, granted: 0, remaining: 1, retryAfter: 0, resetAfter: 0, limit: ONE, inFlight: 0, expiresAt: 0 },
            { key: 'z', allowed: false, granted: 0, remaining: 0, retryAfter: 20_000, resetAfter: 20_000, limit: ONE, inFlight: 1, expiresAt: 0 },
          ],
        },
        leases: { z: [] },
      },
    ],
  },
];
