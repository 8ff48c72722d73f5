/**
 * The circuit breaker (issue 10 item 3) and the eviction guard (item 7).
 * The breaker on its own: closed -> open after `failures` Redis failures in
 * a row, open answers at once with the last error, half-open lets exactly
 * one probe through, the probe's answer closes or reopens it, a ready
 * connection wakes it, and each change is reported once. On a RedisStore
 * under a black-holed Redis: after it opens, only the probes wait out the
 * deadline (no wave of checks per cycle), every change reaches `onEvent`, the
 * store hooks and the `tollgate.store.breaker.changes` metric once, and
 * `health()` goes ready -> down -> ready with the last error. The eviction
 * guard warns once per store when `maxmemory-policy` can evict limiter keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BreakerEvent,
  EVICTION_WARNING_CODE,
  ErrorCodes,
  Limiter,
  LimiterError,
  MetricNames,
  RedisStore,
  type StoreEvent,
  perMinute,
} from '../src/index.js';
import { type BreakerChange, CircuitBreaker, markAnswered } from '../src/breaker.js';
import { noopStoreHooks } from '../src/telemetry/hooks.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { otel, sumValue } from './helpers/otel.js';
import { startRedis, useRedis } from './helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const BIG = perMinute(1_000_000);
const down = (message = 'down'): LimiterError => new LimiterError(ErrorCodes.STORE, message);

describe('CircuitBreaker', () => {
  function breaker(failures: number, openFor: number): { b: CircuitBreaker; changes: string[] } {
    const changes: string[] = [];
    const b = new CircuitBreaker({ failures, openFor }, 'test', (c: BreakerChange) => changes.push(`${c.from}>${c.to}`));
    return { b, changes };
  }

  it('opens after `failures` Redis failures in a row; a success in between starts the count again', () => {
    const { b, changes } = breaker(3, 10_000);
    b.failure(down(), false);
    b.failure(down(), false);
    b.success(false);
    b.failure(down(), false);
    b.failure(down(), false);
    assert.equal(b.state, 'closed');
    b.failure(new LimiterError(ErrorCodes.TIMEOUT, 'late'), false);
    assert.equal(b.state, 'open');
    assert.deepEqual(changes, ['closed>open']);
    const refused = b.admit();
    assert.ok(refused instanceof LimiterError && refused.code === 'ERR_TIMEOUT' && /circuit open.*late/.test(refused.message), String(refused));
    assert.equal(b.lastError?.message, 'late');
    // While open, the refusal carries the time until the probe (an HTTP adapter's Retry-After).
    assert.ok(refused.retryAfter !== undefined && refused.retryAfter > 9_000 && refused.retryAfter <= 10_000, String(refused.retryAfter));
  });

  it('does not count local back-pressure, a closed store, caller errors, or a check\'s own error reply', () => {
    const { b } = breaker(1, 10_000);
    for (const code of [ErrorCodes.POOL_TIMEOUT, ErrorCodes.CLOSED, ErrorCodes.INVALID_KEY, ErrorCodes.ABORTED]) b.failure(new LimiterError(code, code), false);
    const own = down('WRONGTYPE on one key');
    markAnswered(own);
    b.failure(own, false);
    b.failure(new Error('not a LimiterError'), false);
    assert.equal(b.state, 'closed');
  });

  it('half-open lets exactly one probe through; its success closes the breaker', async () => {
    const { b, changes } = breaker(1, 30);
    b.failure(down(), false);
    assert.ok(b.admit() instanceof LimiterError);
    await sleep(40);
    assert.equal(b.admit(), 'probe');
    assert.equal(b.state, 'half-open');
    for (let i = 0; i < 5; i += 1) assert.ok(b.admit() instanceof LimiterError, 'the others keep failing at once');
    b.success(true);
    assert.equal(b.state, 'closed');
    assert.equal(b.admit(), 'pass');
    assert.deepEqual(changes, ['closed>open', 'open>half-open', 'half-open>closed']);
  });

  it("the probe's failure opens it again for `openFor`; a non-Redis failure of the probe frees the probe slot", async () => {
    const { b, changes } = breaker(1, 30);
    b.failure(down(), false);
    await sleep(40);
    assert.equal(b.admit(), 'probe');
    b.failure(new LimiterError(ErrorCodes.POOL_TIMEOUT, 'busy'), true);
    assert.equal(b.state, 'half-open');
    assert.equal(b.admit(), 'probe', 'another check may probe');
    b.failure(down('still down'), true);
    assert.equal(b.state, 'open');
    assert.ok(b.admit() instanceof LimiterError);
    assert.deepEqual(changes, ['closed>open', 'open>half-open', 'half-open>open']);
  });

  it('wake() (a connection became ready) lets the probe through without waiting out openFor', () => {
    const { b, changes } = breaker(1, 60_000);
    b.failure(down(), false);
    b.wake();
    assert.equal(b.admit(), 'probe');
    b.wake(); // already half-open: nothing changes
    assert.deepEqual(changes, ['closed>open', 'open>half-open']);
  });
});

describe('RedisStore breaker under a black-holed Redis', () => {
  const redis = useRedis();

  it('after it opens only probes wait out the deadline; changes are reported once each (onEvent, hooks, metric); health() follows', async () => {
    const proxy = await startFaultProxy(redis.port);
    const events: StoreEvent[] = [];
    const hookStates: string[] = [];
    const sdk = otel();
    const TIMEOUT = 200;
    const store = new RedisStore({ url: proxy.url, timeout: TIMEOUT, breaker: { failures: 3, openFor: 150 }, onEvent: (e) => events.push(e) });
    const limiter = new Limiter({ store, onStoreError: 'open', meterProvider: sdk.meterProvider });
    const hooked = new RedisStore({ url: proxy.url, timeout: TIMEOUT, breaker: { failures: 3, openFor: 150 } });
    hooked.instrument({ ...noopStoreHooks, onBreakerChange: (state) => hookStates.push(state) });
    try {
      await limiter.allow('warm', BIG);
      await hooked.evaluate({ mode: 'all', items: [{ key: 'warm', interval: 60, burst: 1_000_000, cost: 1 }] });
      assert.equal(limiter.health().status, 'ready');
      proxy.set('blackhole');
      const timings: { started: number; elapsed: number; reason: string | undefined }[] = [];
      const end = performance.now() + 1500;
      const running: Promise<void>[] = [];
      for (let i = 0; performance.now() < end; i += 1) {
        const started = performance.now();
        running.push(limiter.allow(`k${i}`, BIG).then((r) => void timings.push({ started, elapsed: performance.now() - started, reason: r.reason })));
        running.push(hooked.evaluate({ mode: 'all', items: [{ key: `k${i}`, interval: 60, burst: 1_000_000, cost: 1 }] }).then(() => undefined, () => undefined));
        await sleep(10);
      }
      await Promise.all(running);
      const health = limiter.health();
      assert.ok(health.status === 'down' || health.status === 'degraded', health.status);
      assert.ok(health.lastError instanceof LimiterError && ['ERR_TIMEOUT', 'ERR_STORE'].includes(health.lastError.code), String(health.lastError));
      proxy.set('none');
      let back = false;
      for (let i = 0; i < 100 && !back; i += 1) {
        back = (await limiter.allow(`h${i}`, BIG)).reason === undefined;
        if (!back) await sleep(10);
      }
      assert.ok(back, 'decided by Redis again');
      for (let i = 0; i < 100 && hookStates.at(-1) !== 'closed'; i += 1) {
        await hooked.evaluate({ mode: 'all', items: [{ key: `h${i}`, interval: 60, burst: 1_000_000, cost: 1 }] }).catch(() => sleep(10));
      }
      assert.equal(limiter.health().status, 'ready');

      const changes = events.filter((e): e is BreakerEvent => e.type === 'breaker');
      const opened = changes.find((e) => e.to === 'open');
      assert.ok(opened, 'the breaker opened');
      assert.equal(changes[0]?.from, 'closed');
      assert.equal(changes.at(-1)?.to, 'closed');
      for (let i = 1; i < changes.length; i += 1) assert.equal(changes[i]?.from, changes[i - 1]?.to, 'one event per change, in order');
      assert.ok(opened.error instanceof LimiterError);
      const probes = changes.filter((e) => e.to === 'half-open').length;
      assert.ok(probes >= 2, `${probes} half-open phases`);
      // Checks that waited out the deadline after the breaker first opened: the probes only.
      const openedAt = timings.filter((t) => t.reason === 'open' && t.elapsed < TIMEOUT / 2)[0]?.started ?? Infinity;
      const waited = timings.filter((t) => t.started > openedAt && t.elapsed >= TIMEOUT * 0.9).length;
      assert.ok(waited <= probes, `${waited} checks waited out the deadline after the breaker opened, with ${probes} probes`);
      assert.ok(timings.filter((t) => t.started > openedAt).length > 50, 'many checks were answered at once meanwhile');

      const counted = (await sdk.collect()).get(MetricNames.BREAKER_CHANGES);
      for (const state of ['open', 'half-open', 'closed']) {
        assert.equal(
          sumValue(counted, { 'tollgate.store.type': 'redis', 'tollgate.breaker.state': state }),
          changes.filter((e) => e.to === state).length,
          `metric count of changes to ${state}`,
        );
      }
      assert.ok(hookStates.includes('open') && hookStates.at(-1) === 'closed', hookStates.join(','));
    } finally {
      await store.close();
      await hooked.close();
      await proxy.close();
      await sdk.shutdown();
    }
  });

  it('breaker: false sends every check to Redis; bad breaker and onEvent options are rejected', async () => {
    assert.throws(() => new RedisStore({ url: redis.url, breaker: { failures: 0 } }), (e: unknown) => e instanceof LimiterError && /breaker.failures/.test(e.message));
    assert.throws(() => new RedisStore({ url: redis.url, breaker: 5 as never }), (e: unknown) => e instanceof LimiterError && /"breaker" must be false or an object/.test(e.message));
    assert.throws(() => new RedisStore({ url: redis.url, onEvent: 'log' as never }), (e: unknown) => e instanceof LimiterError && /"onEvent" must be a function/.test(e.message));
    const store = new RedisStore({ url: redis.url, breaker: false });
    assert.equal(store.health().breaker, 'closed');
    await store.close();
    assert.deepEqual(new Limiter({ telemetry: false }).health(), { status: 'ready', breaker: 'closed' });
  });
});

describe('eviction guard', () => {
  for (const policy of ['allkeys-lru', 'volatile-ttl']) {
    it(`warns once per store when maxmemory-policy is ${policy}`, async () => {
      const server = await startRedis(['--maxmemory-policy', policy]);
      const events: StoreEvent[] = [];
      const store = new RedisStore({ url: server.url, pool: { size: 2 }, onEvent: (e) => events.push(e) });
      try {
        await store.evaluate({ mode: 'all', items: [{ key: 'k', interval: 60, burst: 10, cost: 1 }] });
        await sleep(100);
        const warnings = events.filter((e) => e.type === 'eviction-risk');
        assert.equal(warnings.length, 1);
        assert.equal(warnings[0]?.type === 'eviction-risk' && warnings[0].policy, policy);
        assert.match(warnings[0]?.type === 'eviction-risk' ? warnings[0].message : '', /noeviction/);
      } finally {
        await store.close();
        await server.stop();
      }
    });
  }

  it('without onEvent the warning is a process warning; noeviction raises none', async () => {
    const risky = await startRedis(['--maxmemory-policy', 'allkeys-lfu']);
    const seen: Error[] = [];
    const onWarning = (w: Error): void => void seen.push(w);
    process.on('warning', onWarning);
    const stores = [new RedisStore({ url: risky.url }), new RedisStore({ url: risky.url })];
    const quiet = await startRedis();
    const safe = new RedisStore({ url: quiet.url, timeout: 500 });
    try {
      for (const s of stores) await s.evaluate({ mode: 'all', items: [{ key: 'k', interval: 60, burst: 10, cost: 0 }] });
      await safe.evaluate({ mode: 'all', items: [{ key: 'k', interval: 60, burst: 10, cost: 0 }] });
      await sleep(100);
      const ours = seen.filter((w) => (w as Error & { code?: string }).code === EVICTION_WARNING_CODE);
      assert.equal(ours.length, 2, 'one per store');
      assert.match(ours[0]?.message ?? '', /allkeys-lfu.*noeviction/);
    } finally {
      process.off('warning', onWarning);
      for (const s of [...stores, safe]) await s.close();
      await risky.stop();
      await quiet.stop();
    }
  });
});
