/**
 * Deadlines and bounded waiting (issue 3, SPEC section 10): with Redis
 * paused (`CLIENT PAUSE`) a check fails with ERR_TIMEOUT at its deadline; a
 * full waiting queue fails at once and a long wait fails after
 * `pool.acquireTimeout`, both with ERR_POOL_TIMEOUT; an unreachable Redis
 * fails fast with a typed error; late replies are ignored; closing fails
 * waiting checks with ERR_CLOSED. No promise is ever left rejected unhandled.
 *
 * Ordering is asserted (which check settles first, which code), never
 * durations, except that a check must settle while Redis is still paused.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LimiterError, RedisStore, type RedisStoreOptions, perMinute, resolveLimit } from '../src/index.js';
import type { Check, CheckOutcome } from '../src/store.js';
import type { StoreHooks } from '../src/telemetry/hooks.js';
import { freePort, startRedis, useRedis } from './helpers/redis-server.js';

const limit = resolveLimit(perMinute(1_000_000));
const check = (key: string): Check => ({ mode: 'all', items: [{ key, interval: limit.interval, burst: limit.burst, cost: 1 }] });
const PAUSE_MS = 1200;

function isCode(code: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof LimiterError, `expected a LimiterError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

/** Settles `promise` and records the order in which it settled. */
function track<T>(promise: Promise<T>, log: string[], name: string): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value): PromiseSettledResult<T> => {
      log.push(name);
      return { status: 'fulfilled', value };
    },
    (reason: unknown): PromiseSettledResult<T> => {
      log.push(name);
      return { status: 'rejected', reason };
    },
  );
}

/** Evaluates a check on `key` every 50 ms (at most 40 times) until the store answers; failures meanwhile must have one of `codes`. */
async function onceServed(store: RedisStore, key: string, codes: readonly string[]): Promise<CheckOutcome | undefined> {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const outcome = await store.evaluate(check(key)).catch(async (error: unknown) => {
      assert.ok(error instanceof LimiterError && codes.includes(error.code), String(error));
      await sleep(50);
      return undefined;
    });
    if (outcome !== undefined) return outcome;
  }
  return undefined;
}

/** Hooks that count pending work and store errors. */
function counting(): { hooks: StoreHooks; pending: () => number; errors: string[] } {
  let pending = 0;
  const errors: string[] = [];
  return {
    hooks: {
      captureContext: () => undefined,
      onBatch: () => () => undefined,
      onCacheHit: () => undefined,
      onPending: (d) => {
        pending += d;
      },
      onStoreError: (code) => {
        errors.push(code);
      },
      onBreakerChange: () => undefined,
    },
    pending: () => pending,
    errors,
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('deadlines and bounded waiting', () => {
  const unhandled: unknown[] = [];
  const stores: RedisStore[] = [];
  const extraClients: Redis[] = [];
  let pauseOver: Promise<void> | undefined;
  /** Creates a store that afterEach closes even when the test failed half-way. */
  const open = (options: RedisStoreOptions): RedisStore => {
    const store = new RedisStore(options);
    stores.push(store);
    return store;
  };
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  before(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  const redis = useRedis();
  afterEach(async () => {
    await pauseOver;
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const client of extraClients.splice(0)) client.disconnect();
    await sleep(20); // let any stray rejection surface
    assert.deepEqual(unhandled, [], 'no promise rejection may go unhandled');
  });
  // Registered after useRedis(), so it runs once the server has stopped.
  after(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  /** Pauses every client of the harness Redis for PAUSE_MS; resolves when the pause is over. */
  async function pause(): Promise<{ started: number; over: Promise<void> }> {
    await redis.shared.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const started = performance.now();
    pauseOver = redis.shared.ping().then(() => undefined);
    return { started, over: pauseOver };
  }

  for (const source of ['borrowed client', 'owned pool'] as const) {
    it(`a check past its deadline fails with ERR_TIMEOUT while Redis is paused; its late reply is ignored (${source})`, async () => {
      const client = redis.client();
      const store = open({ ...(source === 'owned pool' ? { url: redis.url } : { client }), prefix: 'dl:t:', timeout: 200, denyCache: false });
      const count = counting();
      store.instrument(count.hooks);
      await store.evaluate(check('warm')); // connected, script loaded
      const { started, over } = await pause();
      await assert.rejects(store.evaluate(check('k')), isCode('ERR_TIMEOUT'));
      assert.ok(performance.now() - started < PAUSE_MS, 'the check failed while Redis was still paused');
      assert.deepEqual(count.errors, ['ERR_TIMEOUT']);
      assert.equal(count.pending(), 0);
      await over;
      await sleep(50); // the late reply (or the command timeout) arrives and is ignored
      // The silent connection may have been recycled meanwhile: it serves again once reconnected.
      const outcome = await onceServed(store, 'k', ['ERR_STORE', 'ERR_TIMEOUT']);
      assert.equal(outcome?.allowed, true);
      assert.equal(count.pending(), 0);
      await store.close();
    });
  }

  it('an owned connection that stops answering is recycled after twice the deadline, freeing its call slot', async () => {
    const store = open({ url: redis.url, prefix: 'dl:r:', timeout: 150, pool: { size: 1, pipeline: 1 }, denyCache: false });
    await store.evaluate(check('warm'));
    const { started } = await pause();
    await assert.rejects(store.evaluate(check('a')), isCode('ERR_TIMEOUT'));
    assert.equal(store.stats.inFlight, 1, 'the unanswered call still holds its slot');
    await sleep(300);
    assert.equal(store.stats.inFlight, 0, 'the connection was recycled and the call failed');
    assert.ok(performance.now() - started < PAUSE_MS, 'while Redis was still paused');
    await pauseOver;
    const outcome = await onceServed(store, 'b', ['ERR_POOL_TIMEOUT', 'ERR_STORE']);
    assert.equal(outcome?.allowed, true, 'the recycled connection serves again');
  });

  it('pool.maxPending: past it a check fails at once with ERR_POOL_TIMEOUT', async () => {
    const store = open({ url: redis.url, prefix: 'dl:p:', timeout: 800, pool: { size: 1, pipeline: 1, maxPending: 3 }, denyCache: false });
    const count = counting();
    store.instrument(count.hooks);
    await store.evaluate(check('warm'));
    const { over } = await pause();
    const log: string[] = [];
    const first = track(store.evaluate(check('a')), log, 'first');
    await tick(); // the first check goes out and occupies the only call slot
    const waiting = [1, 2, 3].map((i) => track(store.evaluate(check(`w${i}`)), log, `waiting${i}`));
    const overflow = track(store.evaluate(check('x')), log, 'overflow');
    assert.equal(store.stats.pending, 3);
    const o = await overflow;
    assert.equal(o.status, 'rejected');
    assert.ok(o.status === 'rejected' && isCode('ERR_POOL_TIMEOUT')(o.reason));
    assert.match(o.status === 'rejected' ? (o.reason as Error).message : '', /pool\.maxPending 3/);
    assert.deepEqual(log, ['overflow'], 'the overflow failed before anything else settled');
    const f = await first;
    assert.ok(f.status === 'rejected' && isCode('ERR_TIMEOUT')(f.reason), 'the check in flight fails at its deadline');
    // The slot stays taken (Redis never answers): the waiting checks never go out, and
    // their error says Redis is not answering (not local back-pressure).
    for (const r of await Promise.all(waiting)) {
      assert.ok(r.status === 'rejected' && isCode('ERR_TIMEOUT')(r.reason), String(r.status === 'rejected' ? r.reason : r.value));
      assert.match(r.status === 'rejected' ? (r.reason as Error).message : '', /has not answered the calls in flight/);
    }
    assert.equal(count.pending(), 0);
    await over;
    await store.close();
  });

  it('pool.acquireTimeout: a check that cannot go out in time fails; behind an unanswered call, with ERR_TIMEOUT', async () => {
    const store = open({ url: redis.url, prefix: 'dl:a:', timeout: 900, pool: { size: 1, pipeline: 1, acquireTimeout: 150 }, denyCache: false });
    await store.evaluate(check('warm'));
    const { started, over } = await pause();
    const log: string[] = [];
    const first = track(store.evaluate(check('a')), log, 'first');
    await tick();
    const second = track(store.evaluate(check('b')), log, 'second');
    const s = await second;
    assert.ok(s.status === 'rejected' && isCode('ERR_TIMEOUT')(s.reason));
    assert.match(s.status === 'rejected' ? (s.reason as Error).message : '', /has not answered the calls in flight for \d+ ms; .*pool\.acquireTimeout/);
    const f = await first;
    assert.ok(f.status === 'rejected' && isCode('ERR_TIMEOUT')(f.reason));
    assert.deepEqual(log, ['second', 'first']);
    assert.ok(performance.now() - started < PAUSE_MS, 'both failed while Redis was still paused');
    await over;
    await store.close();
  });

  it('an unreachable Redis (closed port) fails fast with ERR_STORE, not at a deadline', async () => {
    const port = await freePort();
    const store = open({ url: `redis://127.0.0.1:${port}`, timeout: 10_000, pool: { size: 2, acquireTimeout: 10_000 } });
    const count = counting();
    store.instrument(count.hooks);
    // Codes prove the path: ERR_STORE is the connection failure itself, not a deadline (ERR_TIMEOUT / ERR_POOL_TIMEOUT).
    await assert.rejects(store.evaluate(check('a')), (e: unknown) => isCode('ERR_STORE')(e) && /unreachable/.test((e as Error).message));
    // Once every connection is known down, checks fail before they are queued.
    await assert.rejects(store.evaluate(check('b')), isCode('ERR_STORE'));
    assert.equal(store.stats.pending, 0);
    assert.equal(count.pending(), 0);
    assert.deepEqual(count.errors, ['ERR_STORE', 'ERR_STORE']);
    await store.close();
  });

  it('a borrowed client whose Redis is down fails fast with ERR_STORE, whatever its own queueing and retry settings', async () => {
    const port = await freePort();
    // Offline queue on and unlimited retries: used directly, ioredis would hold the command until its own commandTimeout.
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null, retryStrategy: () => 20, commandTimeout: 400 });
    client.on('error', () => undefined);
    extraClients.push(client);
    const store = open({ client, timeout: 2000, pool: { acquireTimeout: 2000 } });
    const started = performance.now();
    await assert.rejects(store.evaluate(check('a')), (e: unknown) => isCode('ERR_STORE')(e) && /unreachable/.test((e as Error).message));
    assert.ok(performance.now() - started < 1000, `failed after ${Math.round(performance.now() - started)} ms, not at the 2000 ms deadline`);
    assert.equal(store.stats.inFlight, 0);
    assert.equal(store.stats.pending, 0);
    await store.close();
    assert.equal(client.status === 'end', false, 'the borrowed client itself is left alone');
    client.disconnect();
  });

  it('a connection lost mid-flight fails its checks with ERR_STORE', async () => {
    const other = await startRedis();
    after(() => other.stop());
    const store = open({ url: other.url, timeout: 5000, pool: { size: 1, pipeline: 1 } });
    await store.evaluate(check('warm'));
    const probe = other.client();
    await probe.call('CLIENT', 'PAUSE', '5000', 'ALL'); // the next call hangs until the server goes away
    const pending = track(store.evaluate(check('a')), [], 'a');
    await tick();
    await other.stop();
    const p = await pending;
    assert.ok(p.status === 'rejected' && isCode('ERR_STORE')(p.reason));
    await store.close();
  });

  it('close(): waiting checks fail with ERR_CLOSED, later checks too; a borrowed client stays open', async () => {
    const client = redis.client();
    const store = open({ client, prefix: 'dl:c:', pool: { pipeline: 1 }, timeout: 3 * PAUSE_MS });
    await store.evaluate(check('warm'));
    const { over } = await pause();
    const first = track(store.evaluate(check('a')), [], 'first'); // in flight: settles when Redis answers
    await tick();
    const waiting = store.evaluate(check('b'));
    const closing = store.close();
    await assert.rejects(waiting, isCode('ERR_CLOSED'));
    await assert.rejects(store.evaluate(check('c')), isCode('ERR_CLOSED'));
    await over;
    const f = await first;
    assert.ok(f.status === 'fulfilled' && f.value.allowed, 'a check already sent still gets its answer');
    await closing;
    assert.equal(await client.ping(), 'PONG');
  });

  it('an AbortSignal stops waiting with ERR_ABORTED', async () => {
    const store = open({ url: redis.url, prefix: 'dl:s:', pool: { size: 1, pipeline: 1 }, timeout: 900, denyCache: false });
    await store.evaluate(check('warm'));
    const count = counting();
    store.instrument(count.hooks);
    const { over } = await pause();
    const controller = new AbortController();
    const first = track(store.evaluate(check('a')), [], 'first');
    await tick();
    const aborted = store.evaluate(check('b'), { signal: controller.signal });
    controller.abort(new Error('client went away'));
    await assert.rejects(aborted, isCode('ERR_ABORTED'));
    await assert.rejects(store.evaluate(check('c'), { signal: controller.signal }), isCode('ERR_ABORTED'));
    const f = await first;
    assert.ok(f.status === 'rejected' && isCode('ERR_TIMEOUT')(f.reason));
    assert.deepEqual(count.errors, ['ERR_TIMEOUT'], 'an abort is not a store error');
    await over;
    await store.close();
  });
});
