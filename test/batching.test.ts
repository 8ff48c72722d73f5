/**
 * Batching (SPEC section 9): checks fired together travel in shared script
 * calls, and their results equal those of the same checks run one by one,
 * in issue order, on a MemoryStore with the same fake clock; rate and quota
 * checks, compound checks mixing them, and adjustments (issue 14) alike. Also: a bad
 * check in a batch fails alone, batches respect their size caps, resets keep
 * their place in the order, and a lone check goes out without any timer.
 *
 * Every limit has an emission interval of at least 8 s, so keys written by
 * the script live far longer than a run: Redis's real-time expiry of keys
 * cannot interfere with a frozen fake clock.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import fc from 'fast-check';
import { type Limit, LimiterError, MemoryStore, RedisStore, type RedisStoreOptions, perHour, perMinute, quota, resolveLimit, resolveQuota } from '../src/index.js';
import type { AnyItem, Check } from '../src/store.js';
import { noopStoreHooks } from '../src/telemetry/hooks.js';
import { type StoreOp, assertBatchedEqualsOneByOne, itemsFor, withoutSource } from './helpers/batch-equivalence.js';
import { useRedis } from './helpers/redis-server.js';

/** One limit per key (the deny cache is exact when a key is always checked with the same limit). */
const KEY_LIMITS: ReadonlyMap<string, Limit> = new Map([
  ['a', perMinute(3)],
  ['b', perHour(5, 3)],
  ['c', { rate: 7, period: 60_000, burst: 3 }],
  ['d', perMinute(2, 5)],
  ['e', perMinute(1)],
]);
const KEYS = [...KEY_LIMITS.keys()];

const item = itemsFor(KEY_LIMITS);
const burst = (key: string): number => resolveLimit(KEY_LIMITS.get(key) as Limit).burst;

type Op = StoreOp;

/** Quotas on keys of their own; q2's hourly windows change within a run now and then. */
const QUOTAS = new Map([
  ['q1', resolveQuota(quota(4, 'day', { timeZone: 'America/New_York' }))],
  ['q2', resolveQuota(quota(3, 'hour', { timeZone: 'Asia/Kolkata' }))],
]);
const quotaKeyArb = fc.constantFrom(...QUOTAS.keys());
const quotaItem = (key: string, cost: number): AnyItem => {
  const q = QUOTAS.get(key);
  if (q === undefined) throw new Error(`no quota for test key ${key}`);
  return { kind: 'quota', key, amount: q.amount, windows: q.boundaries, cost };
};
const adjustArb: fc.Arbitrary<AnyItem> = fc.oneof(
  fc.tuple(fc.constantFrom(...KEYS), fc.integer({ min: -3, max: 3 })).map(([key, delta]): AnyItem => {
    const r = resolveLimit(KEY_LIMITS.get(key) as Limit);
    return { kind: 'rateAdjust', key, interval: r.interval, burst: r.burst, delta };
  }),
  fc.tuple(quotaKeyArb, fc.integer({ min: -3, max: 3 })).map(([key, delta]): AnyItem => {
    const q = QUOTAS.get(key) as ReturnType<typeof resolveQuota>;
    return { kind: 'quotaAdjust', key, amount: q.amount, windows: q.boundaries, delta };
  }),
);

const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: keyArb.chain((key) => fc.integer({ min: 0, max: burst(key) + 1 }).map((cost): Op => ({ kind: 'check', check: { mode: 'all', items: [item(key, cost)] } }))) },
  { weight: 2, arbitrary: keyArb.chain((key) => fc.integer({ min: 1, max: burst(key) + 1 }).map((n): Op => ({ kind: 'check', check: { mode: 'atMost', items: [item(key, n)] } }))) },
  {
    weight: 2,
    arbitrary: fc
      .array(keyArb.chain((key) => fc.integer({ min: 0, max: burst(key) }).map((cost) => item(key, cost))), { minLength: 2, maxLength: 3 })
      .map((items): Op => ({ kind: 'check', check: { mode: 'all', items } })),
  },
  { weight: 1, arbitrary: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 2 }).map((keys): Op => ({ kind: 'reset', keys })) },
  { weight: 3, arbitrary: quotaKeyArb.chain((key) => fc.integer({ min: 0, max: 5 }).map((cost): Op => ({ kind: 'check', check: { mode: 'all', items: [quotaItem(key, cost)] } }))) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(keyArb, fc.integer({ min: 0, max: 2 }), quotaKeyArb, fc.integer({ min: 0, max: 3 }))
      .map(([key, cost, q, qCost]): Op => ({ kind: 'check', check: { mode: 'all', items: [item(key, cost), quotaItem(q, qCost)] } })),
  },
  { weight: 2, arbitrary: fc.array(adjustArb, { minLength: 1, maxLength: 2 }).map((items): Op => ({ kind: 'check', check: { mode: 'all', items } })) },
);
/** A round: advance the clock by dt µs, then fire all ops at once. */
const roundArb = fc.record({ dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30_000_000 })), ops: fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }) });


/** Records the size of every script call. */
function recordBatches(store: RedisStore): number[] {
  const sizes: number[] = [];
  store.instrument({ ...noopStoreHooks, onBatch: (size) => (sizes.push(size), () => undefined) });
  return sizes;
}

describe('batching', () => {
  const redis = useRedis();
  let runs = 0;

  const variants: { name: string; options: () => Partial<RedisStoreOptions> }[] = [
    { name: 'borrowed client, 2 calls in flight, deny cache on', options: () => ({ client: redis.shared, pool: { pipeline: 2 } }) },
    { name: 'owned pool of 3 connections, one call each, deny cache off', options: () => ({ url: redis.url, pool: { size: 3, pipeline: 1 }, denyCache: false }) },
    { name: 'owned pool of 4 connections, 2 calls each, small batches, deny cache on', options: () => ({ url: redis.url, pool: { size: 4, pipeline: 2 }, batch: { maxSize: 7 } }) },
    { name: 'default pool, deny cache on', options: () => ({ url: redis.url }) },
  ];

  for (const variant of variants) {
    it(`results equal one-by-one evaluation in issue order (${variant.name})`, async () => {
      const sizes: number[] = [];
      let compared = 0;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1_600_000_000_000_000, max: 1_900_000_000_000_000 }), fc.array(roundArb, { minLength: 1, maxLength: 4, size: 'max' }), async (start, rounds) => {
          runs += 1;
          let t = start;
          const now = (): number => t;
          const store = new RedisStore({ ...variant.options(), prefix: `batch:${runs}:`, now } as RedisStoreOptions);
          const batchSizes = recordBatches(store);
          const memory = new MemoryStore({ now });
          try {
            for (const round of rounds) {
              t += round.dt;
              compared += await assertBatchedEqualsOneByOne(store, memory, round.ops);
            }
          } finally {
            await store.close();
          }
          sizes.push(...batchSizes);
        }),
        { numRuns: 40 },
      );
      assert.ok(compared > 1000, `only ${compared} ops compared`);
      assert.ok(sizes.some((s) => s > 1), 'no script call carried more than one check');
      assert.ok(sizes.filter((s) => s > 1).length > 20, `only ${sizes.filter((s) => s > 1).length} calls carried several checks`);
    });
  }

  it('a bad check in a batch fails alone; the others are answered', async () => {
    const t = 1_700_000_000_000_000;
    const store = new RedisStore({ client: redis.shared, prefix: 'batch:bad:', now: () => t, denyCache: false, pool: { pipeline: 1 } });
    await store.evaluate({ mode: 'all', items: [item('a', 0)] }); // a peek: connected: the store is idle, not connecting
    const sizes = recordBatches(store);
    const memory = new MemoryStore({ now: () => t });
    const good = (key: string): Check => ({ mode: 'all', items: [item(key, 1)] });
    const bad: Check = { mode: 'all', items: [{ key: 'a', interval: 0, burst: 3, cost: 1 }] };
    const checks = [good('a'), good('b'), bad, good('a'), { mode: 'atMost', items: [{ key: 'c', interval: 5, burst: 2, cost: 0 }] } as Check, good('c')];
    const settled = await Promise.allSettled(checks.map((c) => store.evaluate(c)));
    // The first check finds the store idle and goes out alone at once; the rest share one call.
    assert.deepEqual(sizes, [1, checks.length - 1]);
    for (const i of [2, 4]) {
      const s = settled[i];
      assert.equal(s?.status, 'rejected');
      assert.ok(s.status === 'rejected' && s.reason instanceof LimiterError && s.reason.code === 'ERR_STORE', `check ${i} fails with ERR_STORE`);
      assert.match(s.status === 'rejected' ? String((s.reason as Error).message) : '', /must be an integer >= 1/);
    }
    for (const i of [0, 1, 3, 5]) {
      const s = settled[i];
      assert.equal(s?.status, 'fulfilled', `check ${i} is answered`);
      if (s?.status === 'fulfilled') assert.deepEqual(withoutSource(s.value), withoutSource(await memory.evaluate(checks[i] as Check)));
    }
    await store.close();
  });

  it('a check the script cannot parse is rejected before it can garble a batch', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'batch:shape:', denyCache: false });
    await assert.rejects(store.evaluate({ mode: 'all', items: [] }), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_OPTION' && /non-empty array of items/.test(e.message));
    await assert.rejects(store.evaluate({ mode: 'most' as 'all', items: [item('a', 1)] }), (e: unknown) => e instanceof LimiterError && /check.mode/.test(e.message));
    await assert.rejects(store.evaluate({ mode: 'all', items: [{ ...item('a', 1), key: '' }] }), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_KEY');
    await store.close();
  });

  it('caps calls at batch.maxSize checks and batch.maxKeys keys', async () => {
    const t = 1_700_000_000_000_000;
    const store = new RedisStore({ client: redis.shared, prefix: 'batch:cap:', now: () => t, denyCache: false, pool: { pipeline: 1 }, batch: { maxSize: 50 } });
    await store.evaluate({ mode: 'all', items: [item('a', 0)] }); // a peek: connected: the store is idle, not connecting
    const sizes = recordBatches(store);
    const singles = Array.from({ length: 230 }, (_, i): Check => ({ mode: 'all', items: [item(KEYS[i % KEYS.length] as string, 0)] }));
    await Promise.all(singles.map((c) => store.evaluate(c)));
    // The first check goes out alone (the store was idle); the 229 others wait for that call, 50 per call.
    assert.deepEqual(sizes, [1, 50, 50, 50, 50, 29]);
    await store.close();
    const narrow = new RedisStore({ client: redis.shared, prefix: 'batch:cap:', now: () => t, denyCache: false, pool: { pipeline: 1 }, batch: { maxKeys: 10 } });
    await narrow.evaluate({ mode: 'all', items: [item('a', 0)] });
    const keySizes = recordBatches(narrow);
    const triples = Array.from({ length: 12 }, (): Check => ({ mode: 'all', items: [item('a', 0), item('b', 0), item('c', 0)] }));
    const wide: Check = { mode: 'all', items: Array.from({ length: 12 }, () => item('d', 0)) };
    await Promise.all([...triples, wide, ...triples].map((c) => narrow.evaluate(c)));
    // 3 keys per check, at most 10 keys per call: 3 checks per call, fewer when the
    // next check would not fit; the 12-key check travels alone. (The first goes out alone: idle store.)
    assert.deepEqual(keySizes, [1, 3, 3, 3, 2, 1, 3, 3, 3, 3]);
    await narrow.close();
  });

  it('a reset keeps its place: checks issued before it are not overtaken, checks after it see a full bucket', async () => {
    let t = 1_700_000_000_000_000;
    const now = (): number => t;
    for (const options of [{ client: redis.shared, pool: { pipeline: 3 } }, { url: redis.url, pool: { size: 3, pipeline: 1 } }] as Partial<RedisStoreOptions>[]) {
      runs += 1;
      const store = new RedisStore({ ...options, prefix: `batch:reset:${runs}:`, now } as RedisStoreOptions);
      const memory = new MemoryStore({ now });
      t += 1_000_000;
      const ops: Op[] = [
        ...Array.from({ length: 4 }, (): Op => ({ kind: 'check', check: { mode: 'all', items: [item('a', 1)] } })),
        { kind: 'reset', keys: ['a'] },
        ...Array.from({ length: 4 }, (): Op => ({ kind: 'check', check: { mode: 'all', items: [item('a', 1)] } })),
        { kind: 'reset', keys: ['a', 'b'] },
        { kind: 'check', check: { mode: 'all', items: [item('a', 3)] } },
      ];
      await assertBatchedEqualsOneByOne(store, memory, ops);
      await store.close();
    }
  });

  it('an idle store sends the first half of a wave at once and the rest in one call at the end of the turn', async () => {
    const t = 1_700_000_000_000_000;
    // Default pipeline: 3 calls may be in flight, so nothing below waits for a free slot.
    const store = new RedisStore({ client: redis.shared, prefix: 'batch:wave:', now: () => t, denyCache: false });
    await store.evaluate({ mode: 'all', items: [item('a', 0)] }); // connected, script loaded: one check answered
    const sizes = recordBatches(store);
    const wave = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => store.evaluate({ mode: 'all', items: [item(KEYS[i % KEYS.length] as string, 0)] })));
    // One check answered since the last call: the first goes out alone, the 7 others in one call.
    await wave(8);
    // 8 answered: 4 go out at once, the other 4 at the end of the turn.
    await wave(8);
    // 8 answered again: 4 at once, then the 36 others in ONE call although two slots are free
    // (calls sent in the same turn reach Redis together: spreading them only adds calls).
    await wave(40);
    assert.deepEqual(sizes, [1, 7, 4, 4, 4, 36]);
    await store.close();
  });

  it('a lone check goes out at once: it is answered while timers are frozen', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'batch:lone:', denyCache: false });
    await store.evaluate({ mode: 'all', items: [item('a', 0)] }); // script loaded, connection warm
    const sizes = recordBatches(store);
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate'] });
    try {
      const outcome = await store.evaluate({ mode: 'all', items: [item('a', 1)] });
      assert.equal(outcome.allowed, true);
      assert.deepEqual(sizes, [1]);
    } finally {
      mock.timers.reset();
    }
    await store.close();
  });
});
