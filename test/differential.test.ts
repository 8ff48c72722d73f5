/**
 * Differential property test (issues 2, 14): random sequences of limits and
 * calendar quotas, operations (allow with any cost, allowAtMost, peek,
 * allowAll mixing rates and quotas with repeated keys, reset, reserve then
 * settle, refund, penalize) and clock steps give identical answers from
 * RedisStore and MemoryStore sharing one fake clock: the same public results
 * (and errors) and the same raw outcomes in µs (TATs, windows and counts
 * included). The RedisStore runs twice: with its local deny cache off (every
 * check reaches the script) and on (the default, whose local answers must
 * equal the script's, also after adjustments move TATs back).
 *
 * Every limit has an emission interval of at least 3.75 s, so any key the script
 * writes lives at least 3.75 s of real time: Redis's real-time expiry cannot
 * interfere with a run that takes milliseconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AnyLimit as EveryLimit, type Limit, Limiter, LimiterError, type LimitResult, MemoryStore, RedisStore, type Reservation, perHour, perMinute, quota } from '../src/index.js';
import type { Check, CheckOutcome, Store } from '../src/store.js';
import type { Quota } from '../src/quotas.js';
import { withoutSource } from './helpers/batch-equivalence.js';
import { useRedis } from './helpers/redis-server.js';

/** The limits this test draws from. */
type AnyLimit = Limit | Quota;

/** Limits with T >= 1 s; bursts 1..5 so sequences reach denials quickly. */
const LIMITS: readonly Limit[] = [
  perMinute(1),
  perMinute(3),
  perMinute(2, 5),
  perHour(4, 2),
  { rate: 7, period: 60_000, burst: 3 }, // T = 8_571_429 (rounds up)
  { rate: 16, period: 60_001, burst: 4 }, // T = 3_750_063 (half rounds up)
  { rate: 5, period: 70_000, burst: 4 }, // T = 14_000_000
];
/** Quotas of every unit; the hour one sees many window changes under steps of minutes. */
const QUOTAS = [
  quota(3, 'hour', { timeZone: 'Asia/Kolkata' }),
  quota(2, 'hour', { timeZone: 'Asia/Kathmandu' }),
  quota(4, 'day', { timeZone: 'America/New_York' }),
  quota(5, 'week', { timeZone: 'Australia/Sydney' }),
  quota(6, 'month', { timeZone: 'Europe/Berlin', anchorDay: 31 }),
];
const KEYS = ['a', 'b', 'c'] as const;

type Op =
  | { kind: 'allow'; key: string; limit: AnyLimit; cost: number }
  | { kind: 'atMost'; key: string; limit: Limit; n: number }
  | { kind: 'peek'; key: string; limit: AnyLimit }
  | { kind: 'allowAll'; items: { key: string; limit: AnyLimit; cost: number }[] }
  | { kind: 'reset'; keys: string[] }
  | { kind: 'reserve'; key: string; limit: AnyLimit; cost: number }
  | { kind: 'reserveAll'; items: { key: string; limit: AnyLimit; cost: number }[] }
  | { kind: 'settle'; actual: number }
  | { kind: 'refund' | 'penalize'; key: string; limit: AnyLimit; n: number };

interface Step {
  /** µs to advance the shared clock before the operation. */
  dt: number;
  op: Op;
}

const burstOf = (limit: AnyLimit): number => ('kind' in limit ? limit.amount : (limit.burst ?? limit.rate));
const keyArb = fc.constantFrom(...KEYS);
const rateArb = fc.constantFrom(...LIMITS);
const limitArb = fc.oneof(rateArb, fc.constantFrom(...QUOTAS));
const costFor = (limit: AnyLimit): fc.Arbitrary<number> => fc.integer({ min: 0, max: burstOf(limit) + 1 });
const itemsArb = fc
  .array(fc.tuple(keyArb, limitArb).chain(([key, limit]) => costFor(limit).map((cost) => ({ key, limit, cost }))), { minLength: 2, maxLength: 3 });
const unitsArb = (kind: 'refund' | 'penalize') =>
  fc.tuple(keyArb, limitArb, fc.integer({ min: 0, max: 7 })).map(([key, limit, n]): Op => ({ kind, key, limit, n }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(keyArb, limitArb).chain(([key, limit]) => costFor(limit).map((cost): Op => ({ kind: 'allow', key, limit, cost }))) },
  {
    weight: 2,
    arbitrary: fc.tuple(keyArb, rateArb).chain(([key, limit]) => fc.integer({ min: 1, max: burstOf(limit) + 1 }).map((n): Op => ({ kind: 'atMost', key, limit, n }))),
  },
  { weight: 1, arbitrary: fc.tuple(keyArb, limitArb).map(([key, limit]): Op => ({ kind: 'peek', key, limit })) },
  { weight: 2, arbitrary: itemsArb.map((items): Op => ({ kind: 'allowAll', items })) },
  { weight: 1, arbitrary: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 2 }).map((keys): Op => ({ kind: 'reset', keys })) },
  { weight: 2, arbitrary: fc.tuple(keyArb, limitArb).chain(([key, limit]) => costFor(limit).map((cost): Op => ({ kind: 'reserve', key, limit, cost }))) },
  { weight: 1, arbitrary: itemsArb.map((items): Op => ({ kind: 'reserveAll', items })) },
  // Reservations of hourly quotas: settled after their window ended now and then (dropped).
  { weight: 1, arbitrary: fc.tuple(keyArb, fc.constantFrom(...QUOTAS.slice(0, 2)), fc.integer({ min: 0, max: 2 })).map(([key, limit, cost]): Op => ({ kind: 'reserve', key, limit, cost })) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 8 }).map((actual): Op => ({ kind: 'settle', actual })) },
  { weight: 1, arbitrary: unitsArb('refund') },
  { weight: 1, arbitrary: unitsArb('penalize') },
);

/** Clock steps: none, a few µs (rounding edges), up to one interval, up to a few minutes, now and then hours (quota windows end). */
const dtArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 20_000_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 300_000_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 7_200_000_000 }) },
);
const stepArb: fc.Arbitrary<Step> = fc.record({ dt: dtArb, op: opArb });

/** A store that delegates to another and remembers its last raw outcome. */
class Recording implements Store {
  last: CheckOutcome | undefined;
  constructor(readonly inner: Store) {}
  async evaluate(check: Check): Promise<CheckOutcome> {
    this.last = await this.inner.evaluate(check);
    return this.last;
  }
  reset(keys: readonly string[]): Promise<void> {
    this.last = undefined;
    return this.inner.reset(keys);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A limiter under test with its open reservations (the latest last). */
interface Subject {
  readonly limiter: Limiter;
  readonly reservations: Reservation<EveryLimit>[];
}

/** Runs `op`; a LimiterError becomes its code, so errors compare like results. */
async function run(subject: Subject, op: Op): Promise<unknown> {
  try {
    return await runOp(subject, op);
  } catch (error) {
    if (error instanceof LimiterError) return { error: error.code };
    throw error;
  }
}

async function runOp({ limiter, reservations }: Subject, op: Op): Promise<LimitResult | object | undefined> {
  switch (op.kind) {
    case 'reserve': {
      const r = await limiter.reserve(op.key, op.limit, { cost: op.cost });
      reservations.push(r);
      return r;
    }
    case 'reserveAll': {
      const r = await limiter.allowAll(op.items);
      reservations.push(r);
      return r;
    }
    case 'settle': {
      const r = reservations.pop();
      return r === undefined ? undefined : r.settle(op.actual);
    }
    case 'refund':
      return limiter.refund(op.key, op.limit, op.n);
    case 'penalize':
      return limiter.penalize(op.key, op.limit, op.n);
    case 'allow':
      return limiter.allow(op.key, op.limit, { cost: op.cost });
    case 'atMost':
      return limiter.allowAtMost(op.key, op.limit, op.n);
    case 'peek':
      return limiter.peek(op.key, op.limit);
    case 'allowAll':
      return limiter.allowAll(op.items);
    case 'reset':
      return limiter.reset(op.keys).then(() => undefined);
  }
}

/** A raw outcome without its `source` (which names the store by design). */
function comparable(outcome: CheckOutcome | undefined): unknown {
  return outcome ? withoutSource(outcome) : undefined;
}

describe('differential: RedisStore and MemoryStore agree', () => {
  const redis = useRedis();
  let runs = 0;
  let checks = 0;
  let cacheHits = 0;
  const seen = { allowed: 0, denied: 0, never: 0, compoundDenied: 0, quotaDenied: 0, refunded: 0, charged: 0, dropped: 0, settleRejected: 0 };

  function tally(op: Op, result: unknown): void {
    if (result === undefined) return;
    if ('error' in (result as object)) {
      if ((result as { error: string }).error === 'ERR_SETTLE') seen.settleRejected += 1;
      return;
    }
    if ('refunded' in (result as object)) {
      const a = result as { refunded: number; charged: number; dropped: boolean };
      if (a.refunded > 0) seen.refunded += 1;
      if (a.charged > 0) seen.charged += 1;
      if (a.dropped) seen.dropped += 1;
      return;
    }
    const r = result as LimitResult;
    checks += 1;
    if (r.allowed) seen.allowed += 1;
    else seen.denied += 1;
    if (r.retryAfter === Infinity) seen.never += 1;
    if ((op.kind === 'allowAll' || op.kind === 'reserveAll') && !r.allowed) seen.compoundDenied += 1;
    if (!r.allowed && 'kind' in r.limit) seen.quotaDenied += 1;
  }

  it('gives identical results and TATs on random sequences', async () => {
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_600_000_000_000_000, max: 1_900_000_000_000_000 }), fc.array(stepArb, { minLength: 1, maxLength: 25, size: 'max' }), async (start, steps) => {
        runs += 1;
        let t = start;
        const now = (): number => t;
        const memory = new Recording(new MemoryStore({ now }));
        const scriptOnly = new Recording(new RedisStore({ client: redis.shared, prefix: `diff:${runs}:`, now, denyCache: false }));
        const cached = new Recording(new RedisStore({ client: redis.shared, prefix: `diff-cached:${runs}:`, now }));
        const viaMemory: Subject = { limiter: new Limiter({ store: memory }), reservations: [] };
        const viaScript: Subject = { limiter: new Limiter({ store: scriptOnly }), reservations: [] };
        const viaCached: Subject = { limiter: new Limiter({ store: cached }), reservations: [] };
        try {
          for (const [i, step] of steps.entries()) {
            t += step.dt;
            const fromMemory = await run(viaMemory, step.op);
            const fromScript = await run(viaScript, step.op);
            const fromCached = await run(viaCached, step.op);
            assert.deepEqual(fromScript, fromMemory, `step ${i}: public results differ (script vs memory)`);
            assert.deepEqual(comparable(scriptOnly.last), comparable(memory.last), `step ${i}: raw outcomes differ (script vs memory)`);
            assert.deepEqual(fromCached, fromMemory, `step ${i}: public results differ (script with deny cache vs memory)`);
            assert.deepEqual(comparable(cached.last), comparable(memory.last), `step ${i}: raw outcomes differ (script with deny cache vs memory)`);
            if (cached.last?.source === 'cache') cacheHits += 1;
            tally(step.op, fromMemory);
          }
        } finally {
          await Promise.all([scriptOnly.close(), cached.close()]);
        }
      }),
      { numRuns: 300 },
    );
    // The generators must actually reach the interesting branches.
    assert.ok(seen.allowed > 100 && seen.denied > 100 && seen.never > 20 && seen.compoundDenied > 20, JSON.stringify(seen));
    assert.ok(seen.quotaDenied > 20 && seen.refunded > 20 && seen.charged > 20 && seen.dropped > 2 && seen.settleRejected > 5, JSON.stringify(seen));
    assert.ok(checks > 600, `only ${checks} checks compared`);
    assert.ok(cacheHits > 20, `the deny cache answered only ${cacheHits} checks`);
    assert.ok(performance.now() - started < 30_000, 'the property run must stay well under 30 s');
  });
});
