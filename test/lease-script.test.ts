/**
 * The leases-only script (src/lua.ts, `leasesOnly`): what the store runs when
 * every check of a call is a lone acquire, release or extend. Against the full
 * script on the same batches (random keys, limits, lease ids and lifetimes,
 * the clock moving on), it answers the same reply and leaves the same lease
 * sets and expiries; compound checks are unreadable to it; and the store picks
 * it exactly for calls of lone concurrency items.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { type Command, Redis } from 'ioredis';
import { Limiter, RedisStore, concurrency, perSecond } from '../src/index.js';
import { assembleScript, leaseScript, limitScript, packedScript } from '../src/lua.js';
import { encodeBatch, leasesOnly } from '../src/redis-codec.js';
import type { AnyCheck, ConcurrencyItem } from '../src/store.js';
import { useRedis } from './helpers/redis-server.js';
import { scriptReply } from './helpers/script-reply.js';

const NOW = 1_750_000_000_000_000;

const acquire = (key: string, lease: string, max = 2, ttl = 5_000_000): AnyCheck => ({ mode: 'all', items: [{ kind: 'concurrency', op: 'acquire', key, max, ttl, lease }] });
const release = (key: string, lease: string): AnyCheck => ({ mode: 'all', items: [{ kind: 'concurrency', op: 'release', key, lease }] });
const extend = (key: string, lease: string, ttl = 5_000_000): AnyCheck => ({ mode: 'all', items: [{ kind: 'concurrency', op: 'extend', key, lease, ttl }] });

describe('leases-only script: assembly', () => {
  it('keeps the concurrency kind without its compound items, and leaves out every other kind and the compound machinery', () => {
    const lean = leaseScript.source;
    assert.equal(lean, assembleScript(undefined, { leasesOnly: true }));
    assert.ok(lean.length < limitScript.source.length * 0.6, `${lean.length} vs ${limitScript.source.length} characters`);
    for (const gone of ['ITEMS', 'load_gcra', 'load_quota', 'load_settle', 'load_lease_items', 'compound']) {
      assert.ok(!lean.includes(`${gone} =`) && !lean.includes(`function ${gone}`), `${gone} is left out`);
    }
    for (const kept of ['local function load_concurrency', 'CHECKS.C = function', 'CHECKS.R = function', 'CHECKS.E = function']) assert.ok(lean.includes(kept), `${kept} is kept`);
    assert.equal(new Set([leaseScript.sha, packedScript.sha, limitScript.sha]).size, 3);
  });

  it('refuses both lean options at once', () => {
    assert.throws(() => assembleScript(undefined, { packedOnly: true, leasesOnly: true }), /packedOnly or leasesOnly, not both/);
  });

  it('leasesOnly() holds exactly for calls of lone concurrency items', () => {
    assert.equal(leasesOnly([acquire('a', 'l1'), release('b', 'l2'), extend('c', 'l3')]), true);
    assert.equal(leasesOnly([]), false, 'an empty call');
    assert.equal(leasesOnly([acquire('a', 'l1'), { mode: 'all', items: [{ key: 'k', interval: 10, burst: 2, cost: 1 }] }]), false, 'with a rate check');
    const pair: AnyCheck = { mode: 'all', items: [...acquire('a', 'l1').items, ...release('b', 'l2').items] };
    assert.equal(leasesOnly([pair]), false, 'a check of two items');
  });

  it('calls without rate items send an empty limit table (L = 0)', () => {
    const { args } = encodeBatch([acquire('a', 'l1', 3, 1000), release('a', 'l1')], 'p:', NOW);
    assert.deepEqual(args, [NOW, 0, 2, 'C', 3, 1000, 'l1', 'R', 'l1']);
  });
});

describe('leases-only script against the full script', () => {
  const redis = useRedis();
  beforeEach(() => redis.shared.flushdb().then(() => undefined));
  const run = (script: typeof limitScript, keys: string[], args: (string | number)[]): Promise<unknown> => scriptReply(redis.shared, script, keys, args);
  /** Every lease (id and expiry) of each key, and whether the key has an expiry. */
  const state = (keys: string[]) => Promise.all(keys.map(async (k) => [await redis.shared.zrange(k, 0, -1, 'WITHSCORES'), (await redis.shared.pttl(k)) > 0]));

  it('same replies, lease sets and expiries on random batches of acquires, releases and extends (fast-check)', async () => {
    const op = fc.record({
      op: fc.constantFrom('acquire', 'acquire', 'release', 'extend'),
      key: fc.integer({ min: 0, max: 3 }),
      lease: fc.integer({ min: 0, max: 7 }),
      max: fc.integer({ min: 1, max: 3 }),
      ttl: fc.integer({ min: 1_000_000, max: 40_000_000 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 30_000_000 }), { minLength: 4, maxLength: 4 }), async (calls, steps) => {
        await redis.shared.flushdb();
        let now = NOW;
        for (const [i, ops] of calls.entries()) {
          now += steps[i] ?? 0;
          const checks: AnyCheck[] = ops.map(({ op: what, key, lease, max, ttl }) => {
            const item: ConcurrencyItem =
              what === 'acquire'
                ? { kind: 'concurrency', op: 'acquire', key: `k${key}`, max, ttl, lease: `l${lease}` }
                : what === 'release'
                  ? { kind: 'concurrency', op: 'release', key: `k${key}`, lease: `l${lease}` }
                  : { kind: 'concurrency', op: 'extend', key: `k${key}`, lease: `l${lease}`, ttl };
            return { mode: 'all', items: [item] };
          });
          assert.ok(leasesOnly(checks));
          const full = encodeBatch(checks, 'full:', now);
          const lean = encodeBatch(checks, 'lean:', now);
          assert.deepEqual(lean.args, full.args);
          assert.deepEqual(await run(leaseScript, lean.keys, lean.args), await run(limitScript, full.keys, full.args));
        }
        const keys = ['k0', 'k1', 'k2', 'k3'];
        assert.deepEqual(await state(keys.map((k) => `lean:${k}`)), await state(keys.map((k) => `full:${k}`)));
      }),
      { numRuns: 50 },
    );
  });

  it('error replies match too: a bad limit, a bad lifetime, a bad lease id, a key of another type', async () => {
    await redis.shared.hset('full:h', 'f', 'v');
    await redis.shared.hset('lean:h', 'f', 'v');
    for (const [keys, args] of [
      [['k'], [NOW, 0, 1, 'C', 0, 1000, 'l1']],
      [['k'], [NOW, 0, 1, 'C', 2, 0, 'l1']],
      [['k'], [NOW, 0, 1, 'C', 2, 1000, '']],
      [['k'], [NOW, 0, 1, 'R', 'x'.repeat(129)]],
      [['k'], [NOW, 0, 1, 'E', 'l1', -5]],
      [['h', 'h', 'k'], [NOW, 0, 3, 'C', 2, 1000, 'l1', 'R', 'l1', 'C', 2, 1000, 'l2']],
    ] as [string[], (string | number)[]][]) {
      const full = await run(limitScript, keys.map((k) => `full:${k}`), args);
      const lean = await run(leaseScript, keys.map((k) => `lean:${k}`), args);
      assert.deepEqual(String(lean).replaceAll('lean:', ''), String(full).replaceAll('full:', ''), JSON.stringify(args));
    }
  });

  it('a compound check is unreadable to it: every remaining slot fails, nothing is written', async () => {
    const reply = (await run(leaseScript, ['p:a', 'p:b'], [NOW, 0, 2, 'C', 2, 1000, 'l1', 'x', 1, 'c', 2, 1000, 'l2'])) as unknown[];
    assert.ok(Array.isArray(reply), String(reply));
    assert.equal(reply.length, 3);
    assert.equal(typeof reply[1], 'number', 'the acquire before it is answered');
    assert.match(String(reply[2]), /is unreadable \(x\)/);
    assert.deepEqual(await redis.shared.zrange('p:b', 0, -1), []);
  });
});

describe('the store picks the leases-only script exactly for calls of lone concurrency items', () => {
  const redis = useRedis();

  it('acquire, extend and release run it; a compound check with a rate limit runs the full script', async () => {
    const store = new RedisStore({ client: redis.shared, prefix: 'pick:', denyCache: false, batch: { maxSize: 1 } });
    const limiter = new Limiter({ store, telemetry: false });
    // Records the SHA of every EVALSHA the store's connections (duplicates of the shared client) send.
    const shas: unknown[] = [];
    const send = Redis.prototype.sendCommand;
    Redis.prototype.sendCommand = function (this: Redis, command: Command, ...rest: unknown[]) {
      if (command.name === 'evalsha') shas.push(command.args[0]);
      return (send as (...a: unknown[]) => unknown).call(this, command, ...rest);
    } as typeof send;
    try {
      const lease = await limiter.acquire('tenant', concurrency(2, { ttl: 10_000 }));
      assert.ok(lease.allowed);
      assert.ok((await lease.extend()) > 0);
      assert.equal(await lease.release(), true);
      const both = await limiter.allowAll([
        { key: 'user', limit: perSecond(5) },
        { key: 'tenant', limit: concurrency(2, { ttl: 10_000 }) },
      ]);
      assert.ok(both.allowed);
      await both.release();
      assert.deepEqual(shas, [leaseScript.sha, leaseScript.sha, leaseScript.sha, limitScript.sha, leaseScript.sha]);
    } finally {
      Redis.prototype.sendCommand = send;
      await store.close();
    }
  });
});
