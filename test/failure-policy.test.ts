/**
 * Store-failure policy (SPEC section 10, Limiter option `onStoreError`):
 * with Redis unreachable (a port nothing listens on), stopped mid-test,
 * answering an error, or paused past the check's deadline, the limiter
 * answers `open` (allow), `closed` (deny), `local` (in-process) or `throw`
 * (reject with a LimiterError), says which in `reason`, recovers when Redis
 * is healthy again, never absorbs caller errors (bad input, bad clock), and
 * leaves no unhandled rejection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type AnyCheck, Limiter, LimiterError, RedisStore, type Store, concurrency, perMinute, quota } from '../src/index.js';
import { freePort, useRedis } from './helpers/redis-server.js';

const L = perMinute(2);
const STORE_CODES = ['ERR_STORE', 'ERR_TIMEOUT', 'ERR_POOL_TIMEOUT', 'ERR_CLOSED'];

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

/** An ioredis client that fails fast instead of queueing or reconnecting. */
function failFastClient(port: number): Redis {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 500 });
  client.on('error', () => undefined); // connection errors are expected here
  return client;
}

const isStoreFailure = (e: unknown): boolean => e instanceof LimiterError && STORE_CODES.includes(e.code);

describe('failure policy', () => {
  const clients: Redis[] = [];
  const stores: RedisStore[] = [];
  let deadPort: number;

  function deadStore(): RedisStore {
    const client = failFastClient(deadPort);
    clients.push(client);
    const store = new RedisStore({ client, timeout: 200 });
    stores.push(store);
    return store;
  }

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    deadPort = await freePort(); // released at once: nothing listens there
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const c of clients) c.disconnect();
    process.off('unhandledRejection', onUnhandled);
  });

  describe('Redis unreachable', () => {
    it("'throw' (the default) rejects with a store LimiterError", { timeout: 10_000 }, async () => {
      for (const limiter of [new Limiter({ store: deadStore() }), new Limiter({ store: deadStore(), onStoreError: 'throw' })]) {
        await assert.rejects(limiter.allow('k', L), isStoreFailure);
        await assert.rejects(limiter.allowAll([{ key: 'a', limit: L }, { key: 'b', limit: L }]), isStoreFailure);
      }
    });

    it("'open' allows and says so", { timeout: 10_000 }, async () => {
      const limiter = new Limiter({ store: deadStore(), onStoreError: 'open' });
      for (let i = 0; i < 4; i += 1) {
        const result = await limiter.allow('k', L);
        assert.equal(result.allowed, true);
        assert.equal(result.granted, 1);
        assert.equal(result.reason, 'open');
      }
      const most = await limiter.allowAtMost('k', L, 5);
      assert.deepEqual([most.allowed, most.granted, most.reason], [true, 2, 'open']);
      const all = await limiter.allowAll([{ key: 'a', limit: L }, { key: 'b', limit: L, cost: 2 }]);
      assert.equal(all.allowed, true);
      assert.equal(all.reason, 'open');
      assert.deepEqual(
        all.items?.map((i) => [i.key, i.allowed, i.granted]),
        [
          ['a', true, 1],
          ['b', true, 2],
        ],
      );
    });

    it("'closed' denies with a finite retry hint (never for a cost above the burst)", { timeout: 10_000 }, async () => {
      const limiter = new Limiter({ store: deadStore(), onStoreError: 'closed' });
      const result = await limiter.allow('k', L);
      assert.deepEqual([result.allowed, result.granted, result.reason], [false, 0, 'closed']);
      assert.ok(result.retryAfter > 0 && Number.isFinite(result.retryAfter), String(result.retryAfter));
      assert.equal((await limiter.allow('k', L, { cost: 3 })).retryAfter, Infinity);
      const all = await limiter.allowAll([{ key: 'a', limit: L }, { key: 'b', limit: L }]);
      assert.deepEqual([all.allowed, all.reason], [false, 'closed']);
    });

    it("'local' decides in-process with the real algorithm", { timeout: 10_000 }, async () => {
      const limiter = new Limiter({ store: deadStore(), onStoreError: 'local' });
      const answers = [];
      for (let i = 0; i < 3; i += 1) answers.push(await limiter.allow('k', L));
      assert.deepEqual(
        answers.map((r) => [r.allowed, r.remaining, r.reason]),
        [
          [true, 1, 'local'],
          [true, 0, 'local'],
          [false, 0, 'local'],
        ],
      );
      assert.ok((answers[2]?.retryAfter ?? 0) > 0);
      const all = await limiter.allowAll([{ key: 'k', limit: L }, { key: 'other', limit: L }]);
      assert.deepEqual([all.allowed, all.reason], [false, 'local']);
    });

    it('quotas and adjustments (issue 14): every policy answers for them too', { timeout: 10_000 }, async () => {
      const q = quota(3, 'day');
      const thrown = new Limiter({ store: deadStore() });
      await assert.rejects(thrown.allow('k', q), isStoreFailure);
      await assert.rejects(thrown.refund('k', q, 1), isStoreFailure);
      await assert.rejects(thrown.penalize('k', L, 1), isStoreFailure);

      const open = new Limiter({ store: deadStore(), onStoreError: 'open' });
      const r = await open.reserve('k', q, { cost: 2 });
      assert.deepEqual([r.allowed, r.granted, r.remaining, r.reason], [true, 2, 1, 'open']);
      // The store took nothing, so the settlement has nothing to adjust: dropped, without a call.
      const settled = await r.settle(1);
      assert.deepEqual([settled.dropped, settled.refunded, settled.charged, settled.reason], [true, 0, 0, 'open']);
      const refund = await open.refund('k', L, 1);
      assert.deepEqual([refund.dropped, refund.refunded, refund.reason], [true, 0, 'open']);

      const closed = new Limiter({ store: deadStore(), onStoreError: 'closed' });
      const denied = await closed.allow('k', q);
      assert.deepEqual([denied.allowed, denied.reason], [false, 'closed']);
      assert.ok(denied.retryAfter > 0 && Number.isFinite(denied.retryAfter), String(denied.retryAfter));
      assert.equal((await closed.allow('k', q, { cost: 4 })).retryAfter, Infinity);

      const local = new Limiter({ store: deadStore(), onStoreError: 'local' });
      const mixed = await local.allowAll([{ key: 'k', limit: L }, { key: 'k', limit: q, cost: 3 }]);
      assert.deepEqual([mixed.allowed, mixed.reason, mixed.items?.map((i) => i.remaining)], [true, 'local', [1, 0]]);
      assert.equal((await local.allow('k', q)).allowed, false, 'the local store counted the quota');
      // The in-process store applies adjustments made while Redis is away.
      const given = await local.refund('k', q, 2);
      assert.deepEqual([given.refunded, given.remaining, given.reason], [2, 2, 'local']);
    });

    it('never absorbs invalid input or a bad clock', { timeout: 10_000 }, async () => {
      const limiter = new Limiter({ store: deadStore(), onStoreError: 'open' });
      await assert.rejects(limiter.allow('k', L, { cost: -1 }), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_COST');
      await assert.rejects(limiter.allow('', L), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_KEY');
      const client = failFastClient(deadPort);
      clients.push(client);
      const badClock = new RedisStore({ client, now: () => 0.5, timeout: 200 });
      stores.push(badClock);
      await assert.rejects(
        new Limiter({ store: badClock, onStoreError: 'open' }).allow('k', L),
        (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_CLOCK',
      );
    });
  });

  describe('Redis stopped mid-test', () => {
    const redis = useRedis();

    it('answers from Redis while it runs, then by policy once it is gone', { timeout: 15_000 }, async () => {
      const client = failFastClient(redis.port);
      clients.push(client);
      if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
      const store = new RedisStore({ client, timeout: 300 });
      stores.push(store);
      const closed = new Limiter({ store, onStoreError: 'closed' });
      const throwing = new Limiter({ store });
      const up = await closed.allow('k', L);
      assert.deepEqual([up.allowed, up.reason], [true, undefined]);
      await redis.stop();
      const down = await closed.allow('k', L);
      assert.deepEqual([down.allowed, down.reason], [false, 'closed']);
      await assert.rejects(throwing.allow('k', L), isStoreFailure);
    });
  });

  describe('Redis answering errors, then healthy again', () => {
    const redis = useRedis();

    it("'local' falls back on an error reply and goes back to Redis once it is healthy (cooldown 0)", { timeout: 10_000 }, async () => {
      const store = new RedisStore({ client: redis.shared, prefix: 'f:' });
      stores.push(store);
      const limiter = new Limiter({ store, onStoreError: 'local', failureCooldown: 0 });
      await redis.shared.hset('f:k', 'not', 'a string'); // WRONGTYPE for the script
      const failing = await limiter.allow('k', L);
      assert.deepEqual([failing.allowed, failing.reason], [true, 'local']);
      await redis.shared.del('f:k');
      const healthy = await limiter.allow('k', L);
      assert.deepEqual([healthy.allowed, healthy.remaining, healthy.reason], [true, 1, undefined]);
      assert.equal(await redis.shared.exists('f:k'), 1, 'Redis holds the state again');
    });

    it('around a store without health(), keeps answering by policy during the cooldown, without calling it', { timeout: 10_000 }, async () => {
      const redisStore = new RedisStore({ client: redis.shared, prefix: 'g:' });
      stores.push(redisStore);
      // A store of its own making (no health(), no breaker): the limiter's cooldown guards it.
      const evaluate = ((c: AnyCheck) => redisStore.evaluate(c)) as Store['evaluate'];
      const store: Store = { evaluate, reset: (k) => redisStore.reset(k), close: () => Promise.resolve() };
      const limiter = new Limiter({ store, onStoreError: 'open', failureCooldown: 60_000 });
      await redis.shared.hset('g:k', 'not', 'a string');
      assert.equal((await limiter.allow('k', L)).reason, 'open');
      await redis.shared.del('g:k');
      const during = await limiter.allow('k', L);
      assert.equal(during.reason, 'open');
      assert.equal(await redis.shared.exists('g:k'), 0, 'the store was not called during the cooldown');
    });

    it('answers by policy when Redis is paused past the deadline, and never hangs', { timeout: 10_000 }, async () => {
      const store = new RedisStore({ client: redis.shared, prefix: 'h:', timeout: 100, denyCache: false });
      stores.push(store);
      const open = new Limiter({ store, onStoreError: 'open', failureCooldown: 0 });
      const throwing = new Limiter({ store });
      const pauser = redis.client();
      await open.allow('warm', L); // connection and script ready
      // WRITE mode holds EVALSHA of a writing script, but lets CLIENT UNPAUSE through.
      await pauser.call('CLIENT', 'PAUSE', '3000', 'WRITE');
      const result = await open.allow('k', L);
      assert.deepEqual([result.allowed, result.reason], [true, 'open']);
      await assert.rejects(throwing.allow('k', L), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_TIMEOUT');
      await pauser.call('CLIENT', 'UNPAUSE');
    });
  });

  describe("'throw' types every rejection", () => {
    it('of a third-party store that throws or rejects with anything', async () => {
      const base = { reset: () => Promise.resolve(), close: () => Promise.resolve() };
      const throwing = { ...base, evaluate: (): never => { throw new TypeError('boom'); } } as Store;
      const rejecting = { ...base, evaluate: (): Promise<never> => Promise.reject(new Error('a plain error')) } as Store;
      for (const store of [throwing, rejecting]) {
        await assert.rejects(new Limiter({ store }).allow('k', L), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_STORE');
      }
    });

    it('of a RedisStore, whose promise the policy passes on as it is (a clock that throws, a dead server)', { timeout: 10_000 }, async () => {
      const client = failFastClient(deadPort);
      clients.push(client);
      const clock = new RedisStore({
        client,
        now: () => {
          throw new Error('clock broke');
        },
        timeout: 200,
      });
      stores.push(clock);
      await assert.rejects(new Limiter({ store: clock }).allow('k', L), (e: unknown) => e instanceof LimiterError);
      await assert.rejects(new Limiter({ store: deadStore() }).acquire('k', concurrency(2, { ttl: 1000 })), isStoreFailure);
    });
  });

  it('left no unhandled rejection', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  });
});
