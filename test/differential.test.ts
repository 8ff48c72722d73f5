/**
 * Differential property test (issue 2): random sequences of limits,
 * operations (allow with any cost, allowAtMost, peek, allowAll with repeated
 * keys, reset) and clock steps give identical answers from RedisStore and
 * MemoryStore sharing one fake clock: the same public results and the same
 * raw outcomes in µs (TATs included). The RedisStore runs twice: with its
 * local deny cache off (every check reaches the script) and on (the default,
 * whose local answers must equal the script's).
 *
 * Every limit has an emission interval of at least 3.75 s, so any key the script
 * writes lives at least 3.75 s of real time: Redis's real-time expiry cannot
 * interfere with a run that takes milliseconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Limit, Limiter, type LimitResult, MemoryStore, RedisStore, perHour, perMinute } from '../src/index.js';
import type { Check, CheckOutcome, Store } from '../src/store.js';
import { withoutSource } from './helpers/batch-equivalence.js';
import { useRedis } from './helpers/redis-server.js';

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
const KEYS = ['a', 'b', 'c'] as const;

type Op =
  | { kind: 'allow'; key: string; limit: Limit; cost: number }
  | { kind: 'atMost'; key: string; limit: Limit; n: number }
  | { kind: 'peek'; key: string; limit: Limit }
  | { kind: 'allowAll'; items: { key: string; limit: Limit; cost: number }[] }
  | { kind: 'reset'; keys: string[] };

interface Step {
  /** µs to advance the shared clock before the operation. */
  dt: number;
  op: Op;
}

const burstOf = (limit: Limit): number => limit.burst ?? limit.rate;
const keyArb = fc.constantFrom(...KEYS);
const limitArb = fc.constantFrom(...LIMITS);
const costFor = (limit: Limit): fc.Arbitrary<number> => fc.integer({ min: 0, max: burstOf(limit) + 1 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(keyArb, limitArb).chain(([key, limit]) => costFor(limit).map((cost): Op => ({ kind: 'allow', key, limit, cost }))) },
  {
    weight: 2,
    arbitrary: fc.tuple(keyArb, limitArb).chain(([key, limit]) => fc.integer({ min: 1, max: burstOf(limit) + 1 }).map((n): Op => ({ kind: 'atMost', key, limit, n }))),
  },
  { weight: 1, arbitrary: fc.tuple(keyArb, limitArb).map(([key, limit]): Op => ({ kind: 'peek', key, limit })) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.tuple(keyArb, limitArb).chain(([key, limit]) => costFor(limit).map((cost) => ({ key, limit, cost }))), { minLength: 2, maxLength: 3 })
      .map((items): Op => ({ kind: 'allowAll', items })),
  },
  { weight: 1, arbitrary: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 2 }).map((keys): Op => ({ kind: 'reset', keys })) },
);

/** Clock steps: none, a few µs (rounding edges), up to one interval, up to a few minutes. */
const dtArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 0, max: 20_000_000 }), fc.integer({ min: 0, max: 300_000_000 }));
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

function run(limiter: Limiter, op: Op): Promise<LimitResult | undefined> {
  switch (op.kind) {
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
  const seen = { allowed: 0, denied: 0, never: 0, compoundDenied: 0 };

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
        const viaMemory = new Limiter({ store: memory });
        const viaScript = new Limiter({ store: scriptOnly });
        const viaCached = new Limiter({ store: cached });
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
            if (fromMemory) {
              checks += 1;
              if (fromMemory.allowed) seen.allowed += 1;
              else seen.denied += 1;
              if (fromMemory.retryAfter === Infinity) seen.never += 1;
              if (step.op.kind === 'allowAll' && !fromMemory.allowed) seen.compoundDenied += 1;
            }
          }
        } finally {
          await Promise.all([scriptOnly.close(), cached.close()]);
        }
      }),
      { numRuns: 200 },
    );
    // The generators must actually reach the interesting branches.
    assert.ok(seen.allowed > 100 && seen.denied > 100 && seen.never > 20 && seen.compoundDenied > 20, JSON.stringify(seen));
    assert.ok(checks > 600, `only ${checks} checks compared`);
    assert.ok(cacheHits > 20, `the deny cache answered only ${cacheHits} checks`);
    assert.ok(performance.now() - started < 30_000, 'the property run must stay well under 30 s');
  });
});
