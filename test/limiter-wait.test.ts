/**
 * Limiter.wait (issue 2 API): resolves with an allowed result once the cost
 * can be taken; rejects with ERR_WAIT_EXCEEDED when the cost can never pass
 * or the next wait would pass `maxWait`; rejects with ERR_ABORTED when its
 * signal aborts, before the first check or while sleeping, and leaves no
 * timer behind. Runs in real time with fast limits; asserts outcomes, never
 * durations (each test has a hard timeout instead).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Limiter, LimiterError, MemoryStore, RedisStore, perMinute, perSecond } from '../src/index.js';
import { useRedis } from './helpers/redis-server.js';

const FAST = perSecond(20); // T = 50 ms
const SLOW = perMinute(1); // T = 60 s

const isCode = (code: string, pattern?: RegExp) => (e: unknown) => e instanceof LimiterError && e.code === code && (pattern === undefined || pattern.test(e.message));

/** Takes the whole burst of `limit` from `key`, and proves the next unit is denied. */
async function drain(limiter: Limiter, key: string, limit: typeof FAST): Promise<void> {
  const burst = limit.burst ?? limit.rate;
  const taken = await limiter.allow(key, limit, { cost: burst });
  assert.equal(taken.allowed, true);
  assert.equal((await limiter.allow(key, limit)).allowed, false);
}

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('Limiter.wait', () => {
  const opened: RedisStore[] = [];
  // Registered before useRedis(), so the stores close before the server stops.
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
  });
  const redis = useRedis();

  const stores = [
    { name: 'MemoryStore', make: () => new MemoryStore() },
    {
      name: 'RedisStore (server clock)',
      make: () => {
        const store = new RedisStore({ client: redis.shared, prefix: `wait${opened.length}:` });
        opened.push(store);
        return store;
      },
    },
  ];

  for (const { name, make } of stores) {
    describe(name, () => {
      it('resolves at once when the cost is available', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        const result = await limiter.wait('k', FAST, { cost: 2 });
        assert.deepEqual([result.allowed, result.granted, result.remaining], [true, 2, 18]);
      });

      it('resolves with an allowed result once a drained bucket refills', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        await drain(limiter, 'k', FAST);
        const result = await limiter.wait('k', FAST);
        assert.equal(result.allowed, true);
        assert.equal(result.granted, 1);
        assert.equal(result.retryAfter, 0);
      });

      it('waits for a larger cost too', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        await drain(limiter, 'k', FAST);
        const result = await limiter.wait('k', FAST, { cost: 3, maxWait: 4000 });
        assert.deepEqual([result.allowed, result.granted], [true, 3]);
      });

      it('serves several waiters on one key, each with its own unit', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        await drain(limiter, 'k', FAST);
        const results = await Promise.all(Array.from({ length: 4 }, () => limiter.wait('k', FAST)));
        assert.deepEqual(
          results.map((r) => [r.allowed, r.granted]),
          Array.from({ length: 4 }, () => [true, 1]),
        );
      });

      it('rejects ERR_WAIT_EXCEEDED when the cost exceeds the burst', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        await assert.rejects(limiter.wait('k', FAST, { cost: 21 }), isCode('ERR_WAIT_EXCEEDED', /burst/));
        assert.equal((await limiter.peek('k', FAST)).remaining, 20, 'nothing was taken');
      });

      it('rejects ERR_WAIT_EXCEEDED when the wait would pass maxWait', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        await drain(limiter, 'k', SLOW);
        // The next unit is 60 s away: no need to sleep to know.
        await assert.rejects(limiter.wait('k', SLOW, { maxWait: 100 }), isCode('ERR_WAIT_EXCEEDED', /maxWait 100/));
        await assert.rejects(limiter.wait('k', SLOW, { maxWait: 0 }), isCode('ERR_WAIT_EXCEEDED'));
      });

      it('rejects ERR_ABORTED for an already-aborted signal, taking nothing', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        const reason = new Error('shutting down');
        await assert.rejects(limiter.wait('k', FAST, { signal: AbortSignal.abort(reason) }), (e: unknown) => isCode('ERR_ABORTED')(e) && (e as Error).cause === reason);
        assert.equal((await limiter.peek('k', FAST)).remaining, 20);
      });

      it('rejects ERR_ABORTED when aborted mid-wait, leaving no timer behind', { timeout: 5000 }, async () => {
        const limiter = new Limiter({ store: make() });
        await drain(limiter, 'k', SLOW);
        const controller = new AbortController();
        const before = timeouts();
        const waiting = limiter.wait('k', SLOW, { signal: controller.signal });
        setTimeout(() => controller.abort('client went away'), 20);
        await assert.rejects(waiting, (e: unknown) => isCode('ERR_ABORTED')(e) && (e as Error).cause === 'client went away');
        assert.ok(timeouts() <= before, 'the 60 s sleep timer was cleared');
      });
    });
  }
});
