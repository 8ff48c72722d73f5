/**
 * The local deny cache (SPEC section 8): it never answers differently from
 * Redis. Property test: random traffic from two stores sharing one Redis
 * (both with the same fake clock); every check a store answers locally is
 * evaluated again by a third store without a cache, on the same Redis at the
 * same fake time (a denial writes nothing, so this is harmless), and the two
 * answers must be identical. Also: reset() drops entries, the cache is
 * bounded by entries, on the Redis clock it is conservative, and it can be
 * turned off.
 *
 * Limits have emission intervals of at least 8 s, so keys outlive a run in
 * real time and Redis's key expiry cannot interfere with the frozen clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Limit, LimiterError, RedisStore, perHour, perMinute, resolveLimit } from '../src/index.js';
import { DenyCache, EXACT_CLOCK, type TimeAnchor } from '../src/deny-cache.js';
import type { Check, RateOutcome } from '../src/store.js';
import { noopStoreHooks } from '../src/telemetry/hooks.js';
import { itemsFor, withoutSource } from './helpers/batch-equivalence.js';
import { useRedis } from './helpers/redis-server.js';

const KEY_LIMITS: ReadonlyMap<string, Limit> = new Map([
  ['a', perMinute(2)],
  ['b', perHour(3, 2)],
  ['c', { rate: 7, period: 60_000, burst: 3 }],
  ['d', perMinute(1)],
]);
const KEYS = [...KEY_LIMITS.keys()];

const item = itemsFor(KEY_LIMITS);
const burst = (key: string): number => resolveLimit(KEY_LIMITS.get(key) as Limit).burst;
const single = (key: string, cost = 1): Check => ({ mode: 'all', items: [item(key, cost)] });

const keyArb = fc.constantFrom(...KEYS);
const checkArb: fc.Arbitrary<Check> = fc.oneof(
  { weight: 6, arbitrary: keyArb.chain((key) => fc.integer({ min: 1, max: burst(key) + 1 }).map((cost) => single(key, cost))) },
  { weight: 2, arbitrary: keyArb.chain((key) => fc.integer({ min: 1, max: burst(key) + 1 }).map((n): Check => ({ mode: 'atMost', items: [item(key, n)] }))) },
  {
    weight: 2,
    arbitrary: fc
      .array(keyArb.chain((key) => fc.integer({ min: 0, max: burst(key) }).map((cost) => item(key, cost))), { minLength: 2, maxLength: 3 })
      .map((items): Check => ({ mode: 'all', items })),
  },
  { weight: 1, arbitrary: keyArb.map((key) => single(key, 0)) },
);
/** Mostly small clock steps (denials pile up), sometimes a whole interval or more. */
const dtArb = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 2_000_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 90_000_000 }) });
const stepArb = fc.record({ dt: dtArb, who: fc.constantFrom(0, 1), check: checkArb });

describe('local deny cache', () => {
  const redis = useRedis();
  let runs = 0;

  it('never answers differently from Redis: two caching stores share one Redis, a cache-less store re-checks every local answer', async () => {
    let local = 0;
    let total = 0;
    let compoundLocal = 0;
    let atMostLocal = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_600_000_000_000_000, max: 1_900_000_000_000_000 }), fc.array(stepArb, { minLength: 1, maxLength: 80, size: 'max' }), async (start, steps) => {
        runs += 1;
        let t = start;
        const now = (): number => t;
        const prefix = `dc:${runs}:`;
        const stores = [new RedisStore({ client: redis.shared, prefix, now }), new RedisStore({ url: redis.url, prefix, now, pool: { size: 2 } })];
        const referee = new RedisStore({ client: redis.shared, prefix, now, denyCache: false });
        try {
          for (const [i, step] of steps.entries()) {
            t += step.dt;
            const outcome = await (stores[step.who] as RedisStore).evaluate(step.check);
            total += 1;
            if (outcome.source !== 'cache') continue;
            local += 1;
            if (step.check.items.length > 1) compoundLocal += 1;
            if (step.check.mode === 'atMost') atMostLocal += 1;
            const fromRedis = await referee.evaluate(step.check);
            assert.equal(fromRedis.allowed, false, `step ${i}: the cache denied a check Redis allows`);
            assert.deepEqual(withoutSource(outcome), withoutSource(fromRedis), `step ${i}: the cache's answer differs from Redis's`);
          }
        } finally {
          await Promise.all([...stores, referee].map((s) => s.close()));
        }
      }),
      { numRuns: 60 },
    );
    assert.ok(total > 1200, `only ${total} checks`);
    assert.ok(local > 300, `the cache answered only ${local} of ${total} checks`);
    assert.ok(compoundLocal > 10 && atMostLocal > 10, `local compound ${compoundLocal}, local atMost ${atMostLocal}`);
  });

  it('answers a full key locally with exactly what Redis says, and sends keys with room to Redis', async () => {
    let t = 1_700_000_000_000_000;
    const now = (): number => t;
    const store = new RedisStore({ client: redis.shared, prefix: 'dc:exact:', now });
    const referee = new RedisStore({ client: redis.shared, prefix: 'dc:exact:', now, denyCache: false });
    let hits = 0;
    store.instrument({ ...noopStoreHooks, onCacheHit: () => (hits += 1) });
    try {
      assert.equal((await store.evaluate(single('a'))).source, 'redis');
      assert.equal((await store.evaluate(single('a'))).source, 'redis'); // now full: 2 per minute
      t += 1_000_000;
      const denied = await store.evaluate(single('a'));
      assert.equal(denied.source, 'cache');
      assert.deepEqual(withoutSource(denied), withoutSource(await referee.evaluate(single('a'))));
      assert.equal(denied.items[0]?.retryAfter, 29_000_000);
      const never = await store.evaluate(single('a', 3)); // cost above the burst
      assert.equal(never.source, 'cache');
      assert.equal(never.items[0]?.retryAfter, -1);
      assert.deepEqual(withoutSource(never), withoutSource(await referee.evaluate(single('a', 3))));
      // A compound check: local only when every item is full.
      await store.evaluate(single('d'));
      const bothFull: Check = { mode: 'all', items: [item('a', 1), item('d', 1)] };
      const oneWithRoom: Check = { mode: 'all', items: [item('a', 1), item('c', 1)] };
      assert.equal((await store.evaluate(bothFull)).source, 'cache');
      assert.equal((await store.evaluate(oneWithRoom)).source, 'redis');
      // A peek goes to Redis: it is always allowed.
      assert.equal((await store.evaluate(single('a', 0))).source, 'redis');
      // The key gets room again exactly when Redis says so.
      t += 29_000_000 - 1;
      assert.equal((await store.evaluate(single('a'))).source, 'cache');
      t += 1;
      const again = await store.evaluate(single('a'));
      assert.deepEqual([again.source, again.allowed], ['redis', true]);
      assert.equal(hits, 4);
    } finally {
      await Promise.all([store.close(), referee.close()]);
    }
  });

  it('reset() drops the local entry, also for checks issued while the reset is under way', async () => {
    const t = 1_700_000_000_000_000;
    const store = new RedisStore({ client: redis.shared, prefix: 'dc:reset:', now: () => t });
    try {
      await store.evaluate(single('d'));
      assert.equal((await store.evaluate(single('d'))).source, 'cache');
      assert.equal(store.stats.cached, 1);
      await store.reset(['d']);
      assert.equal(store.stats.cached, 0);
      const fresh = await store.evaluate(single('d'));
      assert.deepEqual([fresh.source, fresh.allowed], ['redis', true]);
      // Now full again; a check issued right after reset() (not awaited) must not be answered locally.
      const resetting = store.reset(['d']);
      const after = await store.evaluate(single('d'));
      await resetting;
      assert.deepEqual([after.source, after.allowed], ['redis', true]);
    } finally {
      await store.close();
    }
  });

  it('on the Redis clock, local answers are conservative: never allowed, retry hints never earlier than Redis', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: `dc:server:${Date.now()}:` });
    const referee = new RedisStore({ client: redis.shared, prefix: store.prefix, denyCache: false });
    try {
      await store.evaluate(single('a', 2));
      let local = 0;
      for (let i = 0; i < 20; i += 1) {
        const outcome = await store.evaluate(single('a'));
        assert.equal(outcome.allowed, false);
        if (outcome.source !== 'cache') continue;
        local += 1;
        const fromRedis = await referee.evaluate(single('a')); // evaluated later: its now is later
        const [o, r] = [outcome.items[0] as RateOutcome | undefined, fromRedis.items[0] as RateOutcome | undefined];
        assert.ok(o && r && !fromRedis.allowed);
        assert.equal(o.tat, r.tat);
        assert.equal(o.remaining, r.remaining);
        assert.ok(o.retryAfter >= r.retryAfter, `local retryAfter ${o.retryAfter} < Redis ${r.retryAfter}`);
        assert.ok(o.resetAfter >= r.resetAfter);
        assert.ok(outcome.now <= fromRedis.now);
      }
      assert.ok(local >= 19, `only ${local} local answers`);
    } finally {
      await Promise.all([store.close(), referee.close()]);
    }
  });

  it('is bounded by denyCache.maxEntries', async () => {
    const t = 1_700_000_000_000_000;
    const store = new RedisStore({ client: redis.shared, prefix: 'dc:bound:', now: () => t, denyCache: { maxEntries: 50 } });
    const limit = resolveLimit(perMinute(1));
    const full = (i: number): Check => ({ mode: 'all', items: [{ key: `k${i}`, interval: limit.interval, burst: limit.burst, cost: 1 }] });
    try {
      for (let round = 0; round < 4; round += 1) {
        await Promise.all(Array.from({ length: 60 }, (_, i) => store.evaluate(full(round * 60 + i))));
        assert.ok(store.stats.cached <= 50, `${store.stats.cached} entries`);
      }
      assert.equal(store.stats.cached, 50);
      // The youngest entries are kept: the last keys are answered locally, the first are not.
      assert.equal((await store.evaluate(full(239))).source, 'cache');
      assert.equal((await store.evaluate(full(0))).source, 'redis');
    } finally {
      await store.close();
    }
  });

  it('DenyCache: at most maxEntries, oldest evicted first, only full keys kept', () => {
    const cache = new DenyCache(100, EXACT_CLOCK);
    const now = 1_000_000_000;
    const anchor: TimeAnchor = { serverNow: now, sentAt: now, receivedAt: now };
    const T = 1_000_000;
    const tau = 3 * T;
    for (let i = 0; i < 1000; i += 1) {
      cache.record(`k${i}`, now + tau, T, tau, anchor); // full: no room for one unit
      assert.ok(cache.size <= 100);
    }
    assert.equal(cache.size, 100);
    const probe = (key: string): Check => ({ mode: 'all', items: [{ key, interval: T, burst: 3, cost: 1 }] });
    assert.equal(cache.answer(probe('k899'), now), undefined, 'evicted');
    assert.equal(cache.answer(probe('k900'), now)?.allowed, false, 'kept');
    cache.record('k900', now + tau - T, T, tau, anchor); // room for one unit: dropped
    assert.equal(cache.answer(probe('k900'), now), undefined);
    assert.equal(cache.size, 99);
    cache.suppress(['k901']);
    cache.record('k901', now + tau, T, tau, anchor);
    assert.equal(cache.answer(probe('k901'), now), undefined, 'a key being reset is not recorded');
    cache.release(['k901']);
    cache.record('k901', now + tau, T, tau, anchor);
    assert.equal(cache.answer(probe('k901'), now)?.items[0]?.retryAfter, T);
  });

  it('denyCache: false never answers locally; bad options are rejected', async () => {
    const t = 1_700_000_000_000_000;
    const store = new RedisStore({ client: redis.shared, prefix: 'dc:off:', now: () => t, denyCache: false });
    try {
      for (let i = 0; i < 5; i += 1) assert.equal((await store.evaluate(single('d'))).source, 'redis');
      assert.equal(store.stats.cached, 0);
    } finally {
      await store.close();
    }
    for (const denyCache of [0, true, { maxEntries: 0 }, { maxEntries: 1.5 }]) {
      assert.throws(
        () => new RedisStore({ client: redis.shared, denyCache: denyCache as never }),
        (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_OPTION' && /denyCache/.test(e.message),
      );
    }
  });
});
