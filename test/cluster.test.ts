/**
 * Redis Cluster (SPEC section 5): a RedisStore over an ioredis Cluster client
 * against a real three-master cluster started by the harness. Checks on keys
 * in many slots are exact under batching; a check whose keys span slots fails
 * with ERR_CROSS_SLOT before any call; hash-tagged keys work all-or-nothing;
 * the script is found again after SCRIPT FLUSH on every node; resets work
 * across slots; the client's hash slots agree with CLUSTER KEYSLOT. With one
 * master behind a fault proxy (slow or silent), ERR_POOL_TIMEOUT says what
 * the check waited for: its node's call slots, the call slots of every node,
 * or an earlier call on its key (never a connection).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import Fastify from 'fastify';
import type { Cluster } from 'ioredis';
import { REDIS_STORE_DEFAULTS } from '../src/redis-store.js';
import { keySlot } from '../src/cluster-slot.js';
import { ErrorCodes, LimiterError } from '../src/errors.js';
import { concurrency } from '../src/concurrency.js';
import { Limiter } from '../src/limiter.js';
import { quota } from '../src/quotas.js';
import type { Limit } from '../src/limits.js';
import { MemoryStore } from '../src/memory-store.js';
import { RedisStore } from '../src/redis-store.js';
import { noopStoreHooks } from '../src/telemetry/hooks.js';
import { tollgate } from '../middleware/fastify.js';
import { type StoreOp, assertBatchedEqualsOneByOne, itemsFor } from './helpers/batch-equivalence.js';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { type RedisClusterProcess, startRedisCluster, waitFor } from './helpers/redis-cluster.js';

/** Keys in several slots; the `{t}` ones share a slot, so compound checks can use them. */
const KEY_LIMITS: ReadonlyMap<string, Limit> = new Map<string, Limit>([
  ['a', { rate: 3, period: 60_000 }],
  ['b', { rate: 5, period: 3_600_000, burst: 3 }],
  ['c', { rate: 7, period: 60_000, burst: 3 }],
  ['{t}x', { rate: 2, period: 60_000, burst: 5 }],
  ['{t}y', { rate: 1, period: 60_000 }],
]);
const SINGLE_KEYS = [...KEY_LIMITS.keys()];
const TAGGED_KEYS = ['{t}x', '{t}y'];

const item = itemsFor(KEY_LIMITS);

type Op = StoreOp;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SINGLE_KEYS).chain((key) => fc.integer({ min: 0, max: 4 }).map((cost): Op => ({ kind: 'check', check: { mode: 'all', items: [item(key, cost)] } }))) },
  { weight: 2, arbitrary: fc.constantFrom(...SINGLE_KEYS).chain((key) => fc.integer({ min: 1, max: 4 }).map((n): Op => ({ kind: 'check', check: { mode: 'atMost', items: [item(key, n)] } }))) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...TAGGED_KEYS).chain((key) => fc.integer({ min: 0, max: 3 }).map((c) => item(key, c))), { minLength: 2, maxLength: 3 }).map((items): Op => ({ kind: 'check', check: { mode: 'all', items } })) },
  { weight: 1, arbitrary: fc.uniqueArray(fc.constantFrom(...SINGLE_KEYS), { minLength: 1, maxLength: 2 }).map((keys): Op => ({ kind: 'reset', keys })) },
);
const roundArb = fc.record({ dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 30_000_000 })), ops: fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }) });

const SLOT_KEYS = ['é', 'x{ü}y', '{€}', '123456789', 'foo', 'bar', '{user1000}.following', '{user1000}.followers', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', 'ümlaut', 'tollgate:{api}:key-1', 'a:b:{'];

describe('keySlot (no server)', () => {
  it('matches the Redis Cluster specification examples', () => {
    assert.equal(keySlot('123456789'), 12739); // CRC16/XMODEM check value 0x31C3
    assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
    assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
    assert.equal(keySlot(''), 0);
  });

  it('hashes non-ASCII keys by their UTF-8 bytes, as the server does (cross-checked by CLUSTER KEYSLOT below)', () => {
    // 'é' is two bytes in UTF-8: hashing char codes instead would give a different slot.
    assert.notEqual(keySlot('é'), keySlot(String.fromCharCode(0xe9 & 0x7f)));
    assert.equal(keySlot('x{ü}y'), keySlot('ü'));
  });
});

describe('RedisStore on a Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  let client: Cluster;
  const stores: RedisStore[] = [];
  const store = (options: Omit<ConstructorParameters<typeof RedisStore>[0], 'client'> = {}): RedisStore => {
    const s = new RedisStore({ client: client as never, prefix: 'cl:', ...options });
    stores.push(s);
    return s;
  };

  before(async () => {
    cluster = await startRedisCluster();
    client = cluster.cluster();
    await client.ping();
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster.stop();
  });

  it('back-pressure on a cluster says it is call slots that ran out, not connections (ERR_POOL_TIMEOUT)', async () => {
    const limiter = new Limiter({ store: store({ pool: { maxPending: 2 } }), telemetry: false });
    const limit = { rate: 1000, period: 60_000 };
    // Submitted in one tick: the first two wait for the batch, the rest are refused at once.
    const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => limiter.allow(`bp-${i}`, limit)));
    const refused = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.ok(refused.length > 0, 'some checks were refused by pool.maxPending');
    for (const error of refused) {
      assert.ok(error instanceof LimiterError, String(error));
      assert.equal(error.code, ErrorCodes.POOL_TIMEOUT);
      assert.match(error.message, /waiting for a call slot \(pool\.maxPending 2\)/);
      assert.doesNotMatch(error.message, /connection/);
    }
    assert.ok(settled.some((r) => r.status === 'fulfilled'), 'the checks that were let in were answered');
  });

  describe('ERR_POOL_TIMEOUT after pool.acquireTimeout, with one master behind a fault proxy', () => {
    const ACQUIRE = 400;
    let proxy: FaultProxy;
    let slow: Cluster;
    /** `host:port` of the proxied master, as the client routes to it. */
    let slowNode: string;
    const ownerKey = (key: string): string => slow.slots[keySlot(`pt:${key}`)]?.[0] ?? '';
    /** `count` keys (unprefixed) on the proxied master, or (`other`) on the other masters; `distinct`: each in a slot of its own. */
    const keysOf = (stem: string, count: number, other = false, distinct = false): string[] => {
      const keys: string[] = [];
      const slots = new Set<number>();
      for (let i = 0; keys.length < count && i < 1_000_000; i += 1) {
        const key = `${stem}-${i}`;
        const slot = keySlot(`pt:${key}`);
        if ((ownerKey(key) === slowNode) === other || (distinct && slots.has(slot))) continue;
        slots.add(slot);
        keys.push(key);
      }
      assert.equal(keys.length, count);
      return keys;
    };
    const slowStore = (pool: NonNullable<ConstructorParameters<typeof RedisStore>[0]['pool']>): RedisStore => {
      // No breaker: these tests are about the call slots alone.
      const s = new RedisStore({ client: slow as never, prefix: 'pt:', denyCache: false, breaker: false, pool: { acquireTimeout: ACQUIRE, ...pool } });
      stores.push(s);
      return s;
    };
    const refusal = (settled: PromiseSettledResult<unknown>): LimiterError | undefined => {
      if (settled.status === 'fulfilled') return undefined;
      assert.ok(settled.reason instanceof LimiterError, String(settled.reason));
      return settled.reason;
    };

    before(async () => {
      const port = cluster.ports[0] as number;
      proxy = await startFaultProxy(port);
      slow = cluster.cluster({ natMap: { [`127.0.0.1:${port}`]: { host: '127.0.0.1', port: proxy.port } } });
      await slow.ping();
      slowNode = `127.0.0.1:${proxy.port}`;
      assert.ok(Object.values(slow.slots).some((nodes) => nodes[0] === slowNode), 'the client routes a master through the proxy');
    });
    after(async () => {
      proxy.set('none');
      await proxy.close();
    });

    it('when that node\'s call slots are all busy: names the node and its pool.pipeline slots; the other masters answer meanwhile', async () => {
      const limiter = new Limiter({ store: slowStore({ pipeline: 1 }), telemetry: false });
      const limit = { rate: 1000, period: 60_000 };
      proxy.set('latency', 25);
      try {
        // 40 checks on 40 slots of the slow master: one call out at a time, one per round trip, so most outwait
        // pool.acquireTimeout while that node's one call slot keeps turning over (its calls do get answered).
        const slowKeys = keysOf('busy-node', 40, false, true);
        const otherKeys = keysOf('busy-other', 10, true, true);
        const [onSlow, onOthers] = await Promise.all([
          Promise.allSettled(slowKeys.map((key) => limiter.allow(key, limit))),
          Promise.allSettled(otherKeys.map((key) => limiter.allow(key, limit))),
        ]);
        assert.deepEqual(onOthers.map((r) => r.status === 'fulfilled' && r.value.allowed), otherKeys.map(() => true), 'the other masters answer every check');
        const refused = onSlow.map(refusal).filter((e) => e !== undefined);
        assert.ok(refused.length > 0 && refused.length < slowKeys.length, `${refused.length} of ${slowKeys.length} refused`);
        for (const error of refused) {
          assert.equal(error.code, ErrorCodes.POOL_TIMEOUT, error.message);
          assert.match(error.message, new RegExp(`^no call slot to Redis Cluster node ${slowNode.replace(/\./g, '\\.')} was free within ${ACQUIRE} ms: its 1 calls in flight \\(pool\\.pipeline, per node\\)`));
          assert.doesNotMatch(error.message, /connection/i);
        }
      } finally {
        proxy.set('none');
      }
    });

    it('when all call slots are busy: names the calls in flight over all nodes (resets stuck on one node hold the store-wide bound)', async () => {
      const store = slowStore({});
      const limiter = new Limiter({ store, telemetry: false });
      const bound: number = REDIS_STORE_DEFAULTS.clusterMaxCalls;
      proxy.set('blackhole');
      let resets: Promise<PromiseSettledResult<void>[]> | undefined;
      try {
        // A reset's DEL carries no slot of its own (its keys may span slots): it counts against the
        // store-wide bound only. `bound` of them on keys of the silent node fill it.
        resets = Promise.allSettled(keysOf('busy-all', bound).map((key) => limiter.reset(key)));
        await waitFor('the resets did not all go out', async () => store.stats.inFlight === bound, 5000);
        const [key] = keysOf('busy-all-other', 1, true);
        const [settled] = await Promise.allSettled([limiter.allow(key as string, { rate: 10, period: 60_000 })]);
        const error = refusal(settled as PromiseSettledResult<unknown>);
        assert.ok(error, 'the check on a healthy master was refused');
        assert.equal(error.code, ErrorCodes.POOL_TIMEOUT, error.message);
        assert.match(error.message, new RegExp(`^no call slot was free within ${ACQUIRE} ms: ${bound} calls in flight over all nodes`));
        assert.doesNotMatch(error.message, /connection/i);
      } finally {
        proxy.set('none');
      }
      await resets;
      await waitFor('the resets did not settle', async () => store.stats.inFlight === 0, 10_000);
      const [key] = keysOf('busy-all-after', 1, true);
      assert.equal((await limiter.allow(key as string, { rate: 10, period: 60_000 })).allowed, true);
    });

    it('when a busy key holds the check back: says it waited behind an earlier call on the same key (one call in flight per key)', async () => {
      const store = slowStore({});
      const limiter = new Limiter({ store, telemetry: false });
      const limit = { rate: 10, period: 60_000 };
      const [resetKey, checkKey] = keysOf('busy-key', 2);
      proxy.set('blackhole');
      let pending: Promise<unknown>[] = [];
      try {
        // A reset in flight on the key (on no node's call slots): the check behind it waits for the key alone.
        pending.push(limiter.reset(resetKey as string).catch(() => undefined));
        const [behindReset] = await Promise.allSettled([limiter.allow(resetKey as string, limit)]);
        const error = refusal(behindReset as PromiseSettledResult<unknown>);
        assert.ok(error, 'the check behind the reset was refused');
        assert.equal(error.code, ErrorCodes.POOL_TIMEOUT, error.message);
        assert.match(error.message, new RegExp(`^the check waited ${ACQUIRE} ms behind an unanswered call on the same key \\(pool\\.acquireTimeout; a key has one call out at a time on a cluster\\)$`));
        assert.doesNotMatch(error.message, /connection/i);
        // A check in flight on the key, unanswered by its node all along: that is the node's silence (ERR_TIMEOUT), said with the same reason.
        pending.push(limiter.allow(checkKey as string, limit).catch(() => undefined));
        // Out before the next is issued (issued together, both would go in one call).
        await waitFor('the first check did not go out', async () => store.stats.inFlight === 2, 5000);
        const [behindCheck] = await Promise.allSettled([limiter.allow(checkKey as string, limit)]);
        const silent = refusal(behindCheck as PromiseSettledResult<unknown>);
        assert.ok(silent, 'the check behind the silent call was refused');
        assert.equal(silent.code, ErrorCodes.TIMEOUT, silent.message);
        assert.match(silent.message, new RegExp(`^Redis Cluster node ${slowNode.replace(/\./g, '\\.')} has not answered the calls in flight for \\d+ ms; the check waited ${ACQUIRE} ms behind an unanswered call on the same key`));
        assert.doesNotMatch(silent.message, /connection/i);
      } finally {
        proxy.set('none');
      }
      await Promise.all(pending);
      pending = [];
      await waitFor('the calls did not settle', async () => store.stats.inFlight === 0, 10_000);
      assert.equal((await limiter.allow(checkKey as string, limit)).allowed, true);
    });
  });

  it('computes the same hash slots as the server (CLUSTER KEYSLOT)', async () => {
    const node = cluster.node(0);
    for (const key of SLOT_KEYS) assert.equal(keySlot(key), Number(await node.cluster('KEYSLOT', key)), key);
  });

  it('a store on the cluster client takes its listeners back when it closes (regression: 5 listeners and the store leaked per store)', async () => {
    const events = ['ready', 'close', 'end', 'reconnecting', 'connect'];
    const before = events.map((e) => client.listenerCount(e));
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 12; i += 1) {
        const s = new RedisStore({ client: client as never, prefix: 'cl:' });
        const limiter = new Limiter({ store: s, telemetry: false });
        assert.equal((await limiter.allow(`leak-${i}`, { rate: 5, period: 60_000 })).allowed, true);
        await s.close();
      }
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(events.map((e) => client.listenerCount(e)), before);
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
  });

  it('allows exactly the limit per key, for keys spread over every node, with batching', async () => {
    const limiter = new Limiter({ store: store(), telemetry: false });
    const limit = { rate: 5, period: 60_000 };
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    const slots = new Set(keys.map((k) => keySlot(`cl:${k}`)));
    assert.ok(slots.size > 30, 'the keys span many slots');
    const results = await Promise.all(keys.flatMap((key) => Array.from({ length: 8 }, () => limiter.allow(key, limit).then((r) => [key, r.allowed] as const))));
    for (const key of keys) {
      const allowed = results.filter(([k, ok]) => k === key && ok).length;
      assert.equal(allowed, 5, key);
    }
    // Every node holds some of the keys: the work really is spread.
    const sizes = await Promise.all(cluster.ports.map((_, i) => cluster.node(i).dbsize()));
    assert.ok(sizes.every((n) => n > 0), `keys per node: ${sizes.join(', ')}`);
  });

  it('batched results equal one-by-one evaluation in issue order, each call within one slot', async () => {
    const slots = new Set(SINGLE_KEYS.map((k) => keySlot(`p:${k}`)));
    assert.ok(slots.size >= 3, 'the keys span several slots');
    let runs = 0;
    let compared = 0;
    const sizes: number[] = [];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_600_000_000_000_000, max: 1_900_000_000_000_000 }), fc.array(roundArb, { minLength: 1, maxLength: 3, size: 'max' }), async (start, rounds) => {
        runs += 1;
        let t = start;
        const now = (): number => t;
        // The prefix keeps the hash tags intact: `p<run>:{t}x` and `p<run>:{t}y` share a slot.
        const s = new RedisStore({ client: client as never, prefix: `p${runs}:`, now, pool: { pipeline: 2 } });
        s.instrument({ ...noopStoreHooks, onBatch: (size) => (sizes.push(size), () => undefined) });
        const memory = new MemoryStore({ now });
        try {
          for (const round of rounds) {
            t += round.dt;
            compared += await assertBatchedEqualsOneByOne(s, memory, round.ops);
          }
        } finally {
          await s.close();
        }
      }),
      { numRuns: 25 },
    );
    assert.ok(compared > 200, `only ${compared} ops compared`);
    assert.ok(sizes.some((n) => n > 1), 'no script call carried more than one check');
  });

  it('a wave of checks on an idle store is not split in two (regression: the second half waited behind the first on its keys)', async () => {
    // Work on a key with a call in flight waits for that call, so on a cluster the idle store sends
    // the first check of a wave at once and the rest at the end of the turn, one call per slot.
    const s = store({ denyCache: false });
    const limit: Limit = { rate: 1_000_000, period: 1000 };
    const limiter = new Limiter({ store: s, telemetry: false });
    const wave = () => Promise.all(Array.from({ length: 16 }, () => limiter.allow('{wave}hot', limit)));
    await wave();
    const sizes: number[] = [];
    s.instrument({ ...noopStoreHooks, onBatch: (size) => (sizes.push(size), () => undefined) });
    await wave(); // 16 checks were answered since the last call went out
    assert.deepEqual(sizes, [1, 15]);
  });

  it('rejects a check whose keys span slots with ERR_CROSS_SLOT, before writing anything', async () => {
    const s = store();
    const limiter = new Limiter({ store: s, telemetry: false });
    assert.notEqual(keySlot('cl:alpha'), keySlot('cl:beta'));
    await assert.rejects(
      limiter.allowAll([
        { key: 'alpha', limit: { rate: 10, period: 1000 } },
        { key: 'beta', limit: { rate: 10, period: 1000 } },
      ]),
      (error: unknown) => error instanceof LimiterError && error.code === ErrorCodes.CROSS_SLOT && /hash tag/.test(error.message),
    );
    assert.equal((await client.exists('cl:alpha')) + (await client.exists('cl:beta')), 0);
  });

  it('checks hash-tagged keys of one slot all-or-nothing', async () => {
    const limiter = new Limiter({ store: store(), telemetry: false });
    const items = [
      { key: '{tenant-7}:user', limit: { rate: 2, period: 60_000 } },
      { key: '{tenant-7}:tenant', limit: { rate: 3, period: 60_000 } },
    ];
    const verdicts: boolean[] = [];
    for (let i = 0; i < 4; i += 1) verdicts.push((await limiter.allowAll(items)).allowed);
    assert.deepEqual(verdicts, [true, true, false, false]);
    // The denied checks took nothing from the tenant limit: one more unit is still there.
    assert.equal((await limiter.allow('{tenant-7}:tenant', { rate: 3, period: 60_000 })).allowed, true);
    assert.equal((await limiter.allow('{tenant-7}:tenant', { rate: 3, period: 60_000 })).allowed, false);
  });

  it('quotas (issue 14): a rate limit and a quota on one hash-tagged key share a slot; without a tag they span two', async () => {
    const limiter = new Limiter({ store: store(), telemetry: false });
    const rate = { rate: 10, period: 1000 };
    const month = quota(3, 'month', { timeZone: 'Europe/Berlin', anchorDay: 15 });
    const verdicts: boolean[] = [];
    for (let i = 0; i < 4; i += 1) verdicts.push((await limiter.allowAll([{ key: '{tenant-9}', limit: rate }, { key: '{tenant-9}', limit: month }])).allowed);
    assert.deepEqual(verdicts, [true, true, true, false]);
    const r = await limiter.reserve('{tenant-9}', rate, { cost: 5 });
    assert.equal((await r.settle(1)).refunded, 4);
    assert.equal(await client.get('cl:{tenant-9}|quota:month').then((v) => /:3$/.test(String(v))), true);
    // 'tenant-10' and 'tenant-10|quota:month' hash differently: the check fails before any call.
    assert.notEqual(keySlot('cl:tenant-10'), keySlot('cl:tenant-10|quota:month'));
    await assert.rejects(
      limiter.allowAll([{ key: 'tenant-10', limit: rate }, { key: 'tenant-10', limit: month }]),
      (error: unknown) => error instanceof LimiterError && error.code === ErrorCodes.CROSS_SLOT,
    );
    await limiter.reset('{tenant-9}');
    assert.equal(await client.exists('cl:{tenant-9}|quota:month'), 0);
  });

  it('finds the script again after SCRIPT FLUSH on every node', async () => {
    const limiter = new Limiter({ store: store({ denyCache: false }), telemetry: false });
    const limit = { rate: 100, period: 60_000 };
    await Promise.all(['k1', 'k2', 'k3', 'k4'].map((k) => limiter.allow(k, limit)));
    await Promise.all(cluster.ports.map((_, i) => cluster.node(i).script('FLUSH')));
    const after = await Promise.all(['k1', 'k2', 'k3', 'k4'].map((k) => limiter.allow(k, limit)));
    assert.deepEqual(
      after.map((r) => [r.allowed, r.remaining]),
      after.map(() => [true, 98]),
    );
  });

  it('serves the Fastify plugin: single limits spread over slots, a compound policy within one slot', async () => {
    const limiter = new Limiter({ store: store(), telemetry: false });
    const f = Fastify();
    await f.register(tollgate, { limiter, limit: { rate: 2, period: 60_000 }, key: (req) => String(req.headers['x-user']) });
    f.get('/', async () => 'ok');
    f.get(
      '/pair',
      {
        config: {
          rateLimit: {
            name: 'pair',
            limits: {
              user: { limit: { rate: 1, period: 60_000 }, key: (req) => String(req.headers['x-user']) },
              tenant: { limit: { rate: 5, period: 60_000 }, key: (req) => String(req.headers['x-tenant']) },
            },
          },
        },
      },
      async () => 'pair',
    );
    try {
      const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
      for (const user of users) {
        const codes = [];
        for (let i = 0; i < 3; i += 1) codes.push((await f.inject({ url: '/', headers: { 'x-user': user } })).statusCode);
        assert.deepEqual(codes, [200, 200, 429], user);
      }
      const pair = (user: string) => f.inject({ url: '/pair', headers: { 'x-user': user, 'x-tenant': 'acme' } });
      assert.equal((await pair('a')).statusCode, 200);
      const denied = await pair('a');
      assert.equal(denied.statusCode, 429);
      assert.match(String(denied.headers.ratelimit), /"user";r=0/);
      // The user-denied request took nothing from the tenant: 4 other users still pass, the next does not.
      for (const user of ['b', 'c', 'd', 'e']) assert.equal((await pair(user)).statusCode, 200, user);
      assert.equal((await pair('f')).statusCode, 429);
    } finally {
      await f.close();
    }
  });

  it('limits concurrency per key over every node; a compound with a rate item stays in one slot, across slots it is ERR_CROSS_SLOT', async () => {
    const limiter = new Limiter({ store: store(), telemetry: false });
    const slots = concurrency(2, { ttl: 30_000 });
    const keys = Array.from({ length: 30 }, (_, i) => `job-${i}`);
    assert.ok(new Set(keys.map((k) => keySlot(`cl:${k}`))).size > 15, 'the keys span many slots');
    const leases = await Promise.all(keys.flatMap((key) => [1, 2, 3].map(() => limiter.acquire(key, slots))));
    for (const key of keys) assert.equal(leases.filter((l) => l.key === key && l.allowed).length, 2, key);
    assert.deepEqual(await Promise.all(leases.filter((l) => l.allowed).map((l) => l.release())), new Array(60).fill(true));
    const mixed = await limiter.allowAll([
      { key: '{tenant-9}:user', limit: { rate: 5, period: 60_000 } },
      { key: '{tenant-9}:reports', limit: slots },
    ]);
    assert.equal(mixed.allowed, true);
    await mixed.release();
    await assert.rejects(
      limiter.allowAll([
        { key: 'alpha', limit: { rate: 10, period: 1000 } },
        { key: 'beta', limit: slots },
      ]),
      (error: unknown) => error instanceof LimiterError && error.code === ErrorCodes.CROSS_SLOT,
    );
    assert.equal(await client.exists('cl:beta'), 0);
  });

  it('resets keys that live in different slots', async () => {
    const limiter = new Limiter({ store: store(), telemetry: false });
    const limit = { rate: 1, period: 60_000 };
    for (const key of ['r-alpha', 'r-beta']) {
      assert.equal((await limiter.allow(key, limit)).allowed, true);
      assert.equal((await limiter.allow(key, limit)).allowed, false);
    }
    await limiter.reset(['r-alpha', 'r-beta']);
    for (const key of ['r-alpha', 'r-beta']) assert.equal((await limiter.allow(key, limit)).allowed, true);
  });
});
