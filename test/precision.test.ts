/**
 * Precision (SPEC sections 1-3, issue 2): integer microseconds stay exact.
 * With the real server clock a fresh perSecond(10) key answers remaining 9
 * (the float version of the algorithm answers 8 today); TATs are written as
 * exact integer strings even near 2^53; checks that would pass 2^53 are
 * rejected by both stores with nothing written; and the integer helpers and
 * the emission-interval rounding agree with exact BigInt arithmetic.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Limiter, LimiterError, MemoryStore, RedisStore, perSecond, resolveLimit } from '../src/index.js';
import type { RateOutcome } from '../src/store.js';
import { ceilDiv, floorDiv, usToMs } from '../src/intmath.js';
import { useRedis } from './helpers/redis-server.js';

const LIMIT_2_53 = 2 ** 53;

describe('precision with the real clocks', () => {
  const redis = useRedis();

  it('a fresh perSecond(10) key allows with remaining 9 on the Redis server clock', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'p:' });
    const limiter = new Limiter({ store });
    for (let i = 0; i < 50; i += 1) {
      const result = await limiter.allow(`fresh-${i}`, perSecond(10));
      assert.equal(result.allowed, true);
      assert.equal(result.remaining, 9, `key ${i}`);
      assert.equal(result.resetAfter, 100);
    }
  });

  it('the server-clock TAT is now + T exactly and is stored as an integer string', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'p:' });
    const limit = resolveLimit(perSecond(10));
    const outcome = await store.evaluate({ mode: 'all', items: [{ key: 'raw', interval: limit.interval, burst: limit.burst, cost: 1 }] });
    const item = outcome.items[0] as RateOutcome | undefined;
    assert.ok(item);
    assert.equal(item.tat - outcome.now, 100_000);
    assert.equal(item.remaining, 9);
    assert.ok(outcome.now > 1_600_000_000_000_000, `server now ${outcome.now} is in µs`);
    const stored = await redis.shared.get('p:raw');
    assert.match(String(stored), /^\d{16}$/);
    assert.equal(Number(stored), item.tat);
  });

  it('a fresh perSecond(10) key allows with remaining 9 on the MemoryStore process clock', async () => {
    const limiter = new Limiter();
    for (let i = 0; i < 50; i += 1) {
      const result = await limiter.allow(`fresh-${i}`, perSecond(10));
      assert.equal(result.remaining, 9, `key ${i}`);
    }
  });
});

describe('precision near 2^53 with a client clock', () => {
  const redis = useRedis();

  // perSecond(10): T = 100_000, tau = 1_000_000. now + tau + T must stay below 2^53.
  const lastValidNow = LIMIT_2_53 - 1_100_001;
  const times = [7_000_000_000_000_000, lastValidNow];

  for (const t of times) {
    it(`both stores stay exact at now = ${t}`, async () => {
      await redis.shared.flushdb();
      const memory = new Limiter({ store: new MemoryStore({ now: () => t }) });
      const viaRedis = new Limiter({ store: new RedisStore({ client: redis.shared, prefix: 'p:', now: () => t }) });
      for (let i = 1; i <= 10; i += 1) {
        const fromMemory = await memory.allow('k', perSecond(10));
        const fromRedis = await viaRedis.allow('k', perSecond(10));
        assert.deepEqual(fromRedis, fromMemory);
        assert.equal(fromRedis.remaining, 10 - i);
      }
      const denied = await viaRedis.allow('k', perSecond(10));
      assert.equal(denied.allowed, false);
      assert.equal(denied.retryAfter, 100);
      // 10 units of 100_000 µs: the string is exact, not rounded to 14 significant digits.
      assert.equal(await redis.shared.get('p:k'), String(t + 1_000_000));
    });
  }

  it('a check that would pass 2^53 is rejected by both stores and writes nothing', async () => {
    await redis.shared.flushdb();
    const t = lastValidNow + 1; // now + tau + T = 2^53 exactly
    const memoryStore = new MemoryStore({ now: () => t });
    const memory = new Limiter({ store: memoryStore });
    const viaRedis = new Limiter({ store: new RedisStore({ client: redis.shared, prefix: 'p:', now: () => t }) });
    await assert.rejects(memory.allow('k', perSecond(10)), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_OVERFLOW' && /2\^53/.test(e.message));
    await assert.rejects(viaRedis.allow('k', perSecond(10)), (e: unknown) => e instanceof LimiterError && /2\^53/.test(e.message));
    assert.equal(memoryStore.size, 0);
    assert.equal(await redis.shared.dbsize(), 0);
    // A peek adds no n*T, so it still fits.
    assert.equal((await memory.peek('k', perSecond(10))).remaining, 10);
    assert.equal((await viaRedis.peek('k', perSecond(10))).remaining, 10);
  });
});

describe('exact integer arithmetic', () => {
  const big = fc.bigInt({ min: 0n, max: 2n ** 53n - 1n });
  const positive = fc.oneof(fc.bigInt({ min: 1n, max: 2n ** 53n - 1n }), fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: 2n ** 27n }));

  it('floorDiv equals BigInt division for a in [0, 2^53), b in [1, 2^53)', () => {
    fc.assert(
      fc.property(big, positive, (a, b) => {
        assert.equal(floorDiv(Number(a), Number(b)), Number(a / b));
      }),
      { numRuns: 2000 },
    );
  });

  it('floorDiv is exact at quotient boundaries (a = q*b - 1, q*b, q*b + 1)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 26n }), fc.bigInt({ min: 1n, max: 2n ** 26n }), fc.constantFrom(-1n, 0n, 1n), (q, b, d) => {
        const a = q * b + d;
        fc.pre(a >= 0n && a < 2n ** 53n);
        assert.equal(floorDiv(Number(a), Number(b)), Number(a / b));
      }),
      { numRuns: 2000 },
    );
  });

  it('ceilDiv and usToMs round up exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 52n }), positive, (a, b) => {
        fc.pre(a + b < 2n ** 53n);
        assert.equal(ceilDiv(Number(a), Number(b)), Number((a + b - 1n) / b));
        assert.equal(usToMs(Number(a)), Number((a + 999n) / 1000n));
      }),
      { numRuns: 2000 },
    );
    assert.equal(usToMs(-5), 0);
    assert.equal(usToMs(1), 1);
    assert.equal(usToMs(1000), 1);
    assert.equal(usToMs(1001), 2);
  });

  it('the emission interval is max(1, round_half_up(period_us / rate))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000_000 }), (rate, periodMs) => {
        const periodUs = BigInt(periodMs) * 1000n;
        const r = BigInt(rate);
        const q = periodUs / r;
        const rounded = 2n * (periodUs % r) >= r ? q + 1n : q; // half rounds up
        const expected = rounded < 1n ? 1n : rounded;
        const resolved = resolveLimit({ rate, period: periodMs });
        assert.equal(resolved.interval, Number(expected));
        assert.equal(resolved.tolerance, Number(expected) * rate);
      }),
      { numRuns: 2000 },
    );
  });
});
