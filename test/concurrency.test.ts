/**
 * Concurrency limits against a real Redis (issue 13): exactness across 4
 * processes x 200 concurrent acquire/release loops on one key (audited in the
 * sorted set and with a counter of held leases); a killed process's leases
 * free themselves after their ttl, counted as expired; release twice and
 * after expiry is harmless; extend keeps a lease past its first ttl; lease
 * ids are random and stored as the set's members, scored by expiry; failure
 * policies; the in-flight and expired-lease metrics. Real time is used only
 * with lower bounds (a lease can never free itself early on the server clock).
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ErrorCodes, Limiter, LimiterError, MemoryStore, MetricNames, RedisStore, concurrency, perMinute } from '../src/index.js';
import type { AnyOutcome } from '../src/store.js';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { otel, sumValue } from './helpers/otel.js';
import { freePort, useRedis } from './helpers/redis-server.js';
import { type Worker, startWorker, withTimeout } from './helpers/worker.js';

const WORKER = fileURLToPath(new URL('./helpers/concurrency-worker.ts', import.meta.url));

/** A concurrency worker (test/helpers/concurrency-worker.ts) on the harness Redis. */
const startConcurrencyWorker = (port: number, args: string[]): Worker<Record<string, number>> => startWorker(WORKER, [String(port), ...args]);

describe('concurrency limits on Redis', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  // Registered before useRedis(), so the workers are killed before the server stops.
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const redis = useRedis();

  it('4 processes x 200 concurrent acquire/release loops on one key with limit 10 never hold more than 10, and release all', { timeout: 60_000 }, async () => {
    const key = 'exact';
    const workers = Array.from({ length: 4 }, () => startConcurrencyWorker(redis.port, ['loops', key, '200', '2']));
    children.push(...workers.map((w) => w.child));
    await withTimeout(Promise.all(workers.map((w) => w.ready)), 30_000, 'starting the workers');
    // Audit the sorted set while the loops run.
    let maxZcard = 0;
    let auditing = true;
    const audit = (async () => {
      while (auditing) {
        const n = await redis.shared.zcard(`conc:${key}`);
        if (n > maxZcard) maxZcard = n;
        await sleep(2);
      }
    })();
    for (const w of workers) w.child.stdin.write('go\n');
    const reports = await withTimeout(Promise.all(workers.map((w) => w.report)), 40_000, 'the loops');
    auditing = false;
    await audit;
    const sum = (field: string): number => reports.reduce((s, r) => s + (r[field] ?? 0), 0);
    assert.equal(sum('errors'), 0);
    assert.equal(sum('acquired'), 4 * 200 * 2, 'every loop finished its rounds');
    assert.equal(sum('released'), sum('acquired'), 'every lease was released (and was still held)');
    assert.ok(Math.max(...reports.map((r) => r.maxHeld ?? 0)) <= 10, `held at once: ${reports.map((r) => r.maxHeld).join(', ')}`);
    assert.ok(maxZcard <= 10 && maxZcard >= 1, `sorted set size at most ${maxZcard}`);
    assert.equal(await redis.shared.zcard(`conc:${key}`), 0, 'no lease left');
    assert.equal(await redis.shared.get(`${key}:held`), '0');
  });

  it("a killed process's leases free themselves after their ttl, and are counted as expired", { timeout: 30_000 }, async () => {
    const key = 'killed';
    const worker = startConcurrencyWorker(redis.port, ['hold', key, '3', '400']);
    children.push(worker.child);
    await withTimeout(worker.ready, 20_000, 'starting the worker');
    worker.child.stdin.write('go\n');
    const { expiresAt } = await withTimeout(worker.report, 10_000, 'taking the leases');
    worker.child.kill('SIGKILL');
    const store = new RedisStore({ client: redis.shared, prefix: 'conc:' });
    try {
      const limiter = new Limiter({ store });
      const limit = concurrency(3, { ttl: 400 });
      const denied = await limiter.acquire(key, limit);
      assert.equal(denied.allowed, false);
      assert.equal(denied.inFlight, 3);
      assert.ok(denied.retryAfter > 0 && denied.retryAfter <= 400, `retryAfter ${denied.retryAfter}`);
      // Poll the raw store until an acquire passes: that needs the killed process's leases to have expired.
      let outcome: AnyOutcome | undefined;
      for (let i = 0; i < 100 && !outcome?.allowed; i += 1) {
        await sleep(50);
        outcome = await store.evaluate({ mode: 'all', items: [{ kind: 'concurrency', op: 'acquire', key, max: 3, ttl: 400_000, lease: `probe-${i}` }] });
      }
      assert.ok(outcome?.allowed, 'an acquire passed within 5 s');
      const item = outcome.items[0];
      assert.ok(item && 'expired' in item);
      assert.equal(item.expired, 3, 'the three leases of the killed process were removed as expired');
      assert.ok(expiresAt !== undefined && outcome.now / 1000 >= expiresAt, `allowed at ${outcome.now / 1000}, the leases expired at ${expiresAt}`);
    } finally {
      await store.close();
    }
  });

  it('stores each lease as a random id scored by its expiry; the key lives one ttl past its newest lease', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'ids:' });
    try {
      const limiter = new Limiter({ store });
      const [a, b] = await Promise.all([limiter.acquire('k', concurrency(5, { ttl: 20_000 })), limiter.acquire('k', concurrency(5, { ttl: 40_000 }))]);
      assert.ok(a?.allowed && b?.allowed);
      const members = await redis.shared.zrange('ids:k', 0, -1, 'WITHSCORES');
      assert.equal(members.length, 4);
      const ids = [members[0], members[2]] as string[];
      for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{16}[0-9a-z]+$/, 'the process prefix (96 random bits, base64url) and a counter');
      assert.notEqual(ids[0], ids[1]);
      assert.equal(ids[0]?.slice(0, 16), ids[1]?.slice(0, 16), 'one prefix per process');
      assert.deepEqual([Number(members[1]), Number(members[3])].map((us) => Math.floor(us / 1000)), [a.expiresAt, b.expiresAt]);
      assert.match(String(members[1]), /^\d{16}$/, 'an exact integer score in µs');
      const pttl = await redis.shared.pttl('ids:k');
      assert.ok(pttl > 70_000 && pttl <= 80_000, `PTTL ${pttl}: one ttl (of the last write) past the newest lease's expiry`);
    } finally {
      await store.close();
    }
  });

  it('release twice and release after expiry are harmless; extend keeps a lease past its first ttl', { timeout: 20_000 }, async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'life:' });
    try {
      const limiter = new Limiter({ store });
      const one = concurrency(1, { ttl: 300 });
      const a = await limiter.acquire('a', one);
      assert.ok(a.allowed);
      assert.deepEqual(await Promise.all([a.release(), a.release()]), [true, true], 'a concurrent second release shares the first');
      assert.equal(await a.release(), false, 'a later release gives back nothing');
      assert.equal(await redis.shared.exists('life:a'), 0);

      const b = await limiter.acquire('b', one);
      const other = await limiter.acquire('b', one);
      assert.ok(b.allowed && !other.allowed);
      await sleep(400); // past b's ttl on any clock
      await assert.rejects(b.extend(), (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.LEASE_EXPIRED && /no longer held/.test(e.message));
      assert.equal(await b.release(), false, 'after a failed extend the lease is known to be gone');
      const late = await limiter.acquire('b', one);
      assert.ok(late.allowed, 'the expired lease no longer counts');
      await sleep(400);
      assert.equal(await late.release(), true, 'a late release (expired, not yet removed) removes it: harmless');
      assert.equal(await redis.shared.exists('life:b'), 0);
      const pruned = await limiter.acquire('b', one);
      await sleep(400);
      assert.ok((await limiter.acquire('b', one)).allowed, 'this acquire removes the expired lease');
      assert.equal(await pruned.release(), false, 'released after it expired and was removed: nothing to give back');

      const c = await limiter.acquire('c', one);
      const renewedAt = performance.now();
      const until = await c.extend(2_000);
      assert.ok(until >= c.expiresAt && until === c.expiresAt, 'expiresAt follows the extension');
      await sleep(450); // past the first ttl (300 ms)
      if (performance.now() - renewedAt < 1_900) {
        const blocked = await limiter.acquire('c', one);
        assert.equal(blocked.allowed, false, 'the extended lease still holds the only slot past its first ttl');
      }
      assert.equal(await c.release(), true);
      assert.equal((await limiter.acquire('c', one)).allowed, true);
      await assert.rejects(c.extend(100), (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.LEASE_EXPIRED && /was released/.test(e.message));
      await assert.rejects(other.extend(), (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.LEASE_EXPIRED && /never granted/.test(e.message));
      await assert.rejects(c.extend(-1), (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.INVALID_OPTION && /extend\(ttl\)/.test(e.message));
    } finally {
      await store.close();
    }
  });

  it('a compound check with a rate and a concurrency item is all-or-nothing either way', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'mix:' });
    try {
      const limiter = new Limiter({ store });
      const rate = perMinute(1);
      const slots = concurrency(1, { ttl: 60_000 });
      const first = await limiter.allowAll([{ key: 'u', limit: rate }, { key: 'c', limit: slots }]);
      assert.ok(first.allowed);
      // The rate item is empty now: the free concurrency key of the next check must not be taken.
      const rateDenied = await limiter.allowAll([{ key: 'u', limit: rate }, { key: 'c2', limit: slots }]);
      assert.equal(rateDenied.allowed, false);
      assert.equal(await redis.shared.exists('mix:c2'), 0, 'no lease was taken');
      // The concurrency key is full: the fresh rate key of the next check must not be charged.
      const slotDenied = await limiter.allowAll([{ key: 'u2', limit: rate }, { key: 'c', limit: slots }]);
      assert.equal(slotDenied.allowed, false);
      assert.equal(await redis.shared.exists('mix:u2'), 0, 'no unit was taken');
      assert.equal(await redis.shared.zcard('mix:c'), 1);
      await first.release();
      await first.release();
      assert.equal(await redis.shared.exists('mix:c'), 0, 'result.release() gave the lease back');
      assert.equal((await limiter.allowAll([{ key: 'u2', limit: rate }, { key: 'c', limit: slots }])).allowed, true);
    } finally {
      await store.close();
    }
  });

  it('reports leases in flight per limit name, and leases that expired unreleased', { timeout: 20_000 }, async () => {
    const sdk = otel();
    const store = new RedisStore({ client: redis.shared, prefix: 'otel:' });
    try {
      const limiter = new Limiter({ store, meterProvider: sdk.meterProvider });
      const reports = concurrency(3, { ttl: 1_000, name: 'reports' });
      const takenAt = performance.now();
      const leases = await Promise.all([1, 2, 3].map(() => limiter.acquire('t', reports)));
      const held = (m: Map<string, MetricData>): number => sumValue(m.get(MetricNames.LEASES_IN_FLIGHT), { 'tollgate.limit.name': 'reports' });
      assert.equal(held(await sdk.collect()), 3);
      await leases[0]?.release();
      assert.equal(held(await sdk.collect()), 2);
      // The other two expire unreleased; the key keeps them (one more ttl) for the next acquire to count.
      await sleep(Math.max(0, takenAt + 1_100 - performance.now()));
      const next = await limiter.acquire('t', reports);
      assert.ok(next.allowed);
      const m = await sdk.collect();
      assert.equal(held(m), 1, 'leases past their ttl are no longer in flight');
      assert.equal(sumValue(m.get(MetricNames.LEASES_EXPIRED), { 'tollgate.limit.name': 'reports' }), 2);
      await next.release();
    } finally {
      await store.close();
      await sdk.shutdown();
    }
  });
});

describe('concurrency limits under failure policies', () => {
  const clients: Redis[] = [];
  const stores: RedisStore[] = [];
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const c of clients) c.disconnect();
  });
  async function deadStore(): Promise<RedisStore> {
    const client = new Redis({ port: await freePort(), host: '127.0.0.1', maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 500 });
    client.on('error', () => undefined);
    clients.push(client);
    const store = new RedisStore({ client, timeout: 200 });
    stores.push(store);
    return store;
  }
  const limit = concurrency(1, { ttl: 5_000 });

  it("'throw' rejects acquire with the store error", async () => {
    const limiter = new Limiter({ store: await deadStore() });
    await assert.rejects(limiter.acquire('k', limit), (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.STORE);
  });

  it("'open' grants a lease no store holds (release gives back nothing); 'closed' denies", async () => {
    const open = new Limiter({ store: await deadStore(), onStoreError: 'open' });
    const granted = await open.acquire('k', limit);
    assert.equal(granted.allowed, true);
    assert.equal(granted.reason, 'open');
    assert.ok(granted.expiresAt > Date.now());
    assert.equal(await granted.release(), false);
    const closed = new Limiter({ store: await deadStore(), onStoreError: 'closed' });
    const denied = await closed.acquire('k', limit);
    assert.equal(denied.allowed, false);
    assert.equal(denied.reason, 'closed');
    assert.ok(denied.retryAfter > 0);
  });

  it("'local' decides with the in-process store, where its leases are released", async () => {
    const limiter = new Limiter({ store: await deadStore(), onStoreError: 'local', failureCooldown: 60_000 });
    const a = await limiter.acquire('k', limit);
    const b = await limiter.acquire('k', limit);
    assert.deepEqual([a.allowed, a.reason, b.allowed, b.reason], [true, 'local', false, 'local']);
    assert.equal(await a.release(), true);
    assert.equal((await limiter.acquire('k', limit)).allowed, true, 'the local lease was given back');
  });

  it('rejects what cannot be a concurrency check, before any store call', async () => {
    const limiter = new Limiter({ store: new MemoryStore() });
    await assert.rejects(limiter.acquire('k', perMinute(1) as never), /concurrency limit/);
    await assert.rejects(limiter.allow('k', limit as never), /acquire\(\) or in allowAll\(\)/);
    await assert.rejects(limiter.allowAll([{ key: 'k', limit, cost: 2 }]), (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.INVALID_COST);
    assert.throws(() => concurrency(0, { ttl: 1 }), /limit.max/);
    assert.throws(() => concurrency(1, { ttl: 0 }), /limit.ttl/);
    assert.throws(() => concurrency(1, undefined as never), /needs options/);
  });
});
