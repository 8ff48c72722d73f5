/**
 * A borrowed ioredis client with default settings (issue 10 item 2): ioredis
 * itself re-sends unanswered commands after a reconnect (measured here, on
 * INCR), so a script call whose reply was lost would run twice. The store
 * sends its calls over duplicates of the client with its own settings:
 * lost calls settle at once, saying the check may have been applied, and
 * are never re-sent; an audit of the TATs in Redis against the checks
 * reported allowed shows no unit taken twice, also under resets mid-batch.
 * A dead Redis fails fast; the borrowed client itself is never closed, and
 * when it ends, the store closes with it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LimiterError, RedisStore, resolveLimit } from '../src/index.js';
import type { Check } from '../src/store.js';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { freePort, useRedis } from './helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** 1000 per day, burst 1000: with a fixed client clock every unit moves the TAT by exactly T. */
const LIMIT = resolveLimit({ rate: 1000, period: 86_400_000 });
const T = LIMIT.interval;
const FIXED = Date.now() * 1000;
const check = (key: string): Check => ({ mode: 'all', items: [{ key, interval: T, burst: LIMIT.burst, cost: 1 }] });

type Settled = { ok: true; granted: number } | { ok: false; error: LimiterError };

function settle(promise: Promise<{ allowed: boolean; items: readonly { granted: number }[] }>): Promise<Settled> {
  return promise.then(
    (outcome) => ({ ok: true, granted: outcome.allowed ? (outcome.items[0]?.granted ?? 0) : 0 }),
    (error: unknown) => {
      assert.ok(error instanceof LimiterError, String(error));
      return { ok: false, error };
    },
  );
}

/** A client with ioredis defaults, as users create it (only an error listener, to keep the output quiet). */
function defaultClient(url: string): Redis {
  const client = new Redis(url);
  client.on('error', () => undefined);
  return client;
}

describe('borrowed client with ioredis defaults', () => {
  const redis = useRedis();
  let proxy: FaultProxy;
  const clients: Redis[] = [];
  before(async () => {
    proxy = await startFaultProxy(redis.port);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await proxy.close();
  });

  /** Units taken from `key` in Redis, read from its TAT (fixed client clock). */
  async function unitsIn(key: string): Promise<number> {
    const tat = Number(await redis.shared.get(key));
    assert.ok(Number.isSafeInteger(tat), `TAT of ${key}`);
    return (tat - FIXED) / T;
  }

  it('measured: ioredis by default re-sends commands whose replies were lost, so each ran twice', async () => {
    const raw = defaultClient(proxy.url);
    clients.push(raw);
    await raw.ping();
    proxy.set('mute');
    const incrs = Array.from({ length: 20 }, () => raw.incr('replay:raw'));
    await sleep(100); // the INCRs ran in Redis; their replies were dropped
    proxy.resetAll();
    proxy.set('none');
    await Promise.all(incrs); // answered after ioredis re-sent them on the new connection
    assert.equal(Number(await redis.shared.get('replay:raw')), 40);
  });

  it('a lost script call settles at once, says it may have been applied, and is never re-sent', async (t) => {
    const client = defaultClient(proxy.url);
    clients.push(client);
    const store = new RedisStore({ client, prefix: 'replay:', now: () => FIXED, denyCache: false, timeout: 2000 });
    try {
      assert.equal((await store.evaluate(check('k'))).allowed, true);
      proxy.set('mute');
      const muted = Array.from({ length: 20 }, () => settle(store.evaluate(check('k'))));
      await sleep(100);
      const cut = performance.now();
      proxy.resetAll();
      proxy.set('none');
      const results = await Promise.all(muted);
      const settledIn = performance.now() - cut;
      assert.ok(settledIn < 500, `settled ${Math.round(settledIn)} ms after the reset (deadline 2000 ms)`);
      const sent = results.filter((r) => !r.ok && /may have been applied/.test(r.error.message)).length;
      const notSent = results.filter((r) => !r.ok && /not sent|unreachable/.test(r.error.message)).length;
      assert.equal(sent + notSent, 20, results.map((r) => (r.ok ? 'ok' : r.error.message)).join('\n'));
      assert.ok(sent >= 1, 'at least one call reached Redis');
      t.diagnostic(`${sent} lost calls reached Redis, ${notSent} were never sent; settled ${Math.round(settledIn)} ms after the reset`);
      await sleep(300); // reconnected: a re-sent call would have run by now
      let after: Settled | undefined;
      for (let i = 0; i < 50 && !after?.ok; i += 1) {
        after = await settle(store.evaluate(check('k')));
        if (!after.ok) await sleep(20);
      }
      assert.equal(after?.ok, true, 'the store answers again');
      // The warm-up, each call that reached Redis once, and the last check: nothing ran twice.
      assert.equal(await unitsIn('replay:k'), 1 + sent + 1);
    } finally {
      await store.close();
    }
  });

  it('resets mid-batch: the TATs in Redis hold every unit reported allowed, and at most one more per check that may have been applied', async (t) => {
    const client = defaultClient(proxy.url);
    clients.push(client);
    const store = new RedisStore({ client, prefix: 'audit:', now: () => FIXED, denyCache: false, timeout: 1000, pool: { pipeline: 3 } });
    const keys = ['a', 'b', 'c', 'd'];
    let granted = 0;
    let maybe = 0;
    let failed = 0;
    try {
      for (let wave = 0; wave < 12; wave += 1) {
        const pending = Array.from({ length: 40 }, (_, i) => settle(store.evaluate(check(keys[i % keys.length] as string))));
        setTimeout(() => proxy.resetAll(), wave % 3);
        for (const r of await Promise.all(pending)) {
          if (r.ok) granted += r.granted;
          else if (/may have been applied/.test(r.error.message)) maybe += 1;
          else failed += 1;
        }
        for (let i = 0; i < 50; i += 1) {
          if ((await settle(store.evaluate(check('probe')))).ok) break;
          await sleep(20);
        }
      }
      let units = 0;
      for (const key of keys) units += (await redis.shared.exists(`audit:${key}`)) ? await unitsIn(`audit:${key}`) : 0;
      t.diagnostic(`allowed ${granted}, failed and may have been applied ${maybe}, failed unsent ${failed}, units in Redis ${units}`);
      assert.ok(granted > 0 && maybe + failed > 0, `granted ${granted}, may have been applied ${maybe}, not sent ${failed}: the resets hit calls`);
      assert.ok(units >= granted, `Redis holds ${units} units, ${granted} reported allowed`);
      assert.ok(units <= granted + maybe, `Redis holds ${units} units: more than ${granted} allowed + ${maybe} that may have been applied`);
    } finally {
      await store.close();
    }
  });

  it('a dead Redis fails fast with ERR_STORE, and close() leaves the borrowed client open', async () => {
    const dead = defaultClient(`redis://127.0.0.1:${await freePort()}`);
    clients.push(dead);
    const store = new RedisStore({ client: dead, timeout: 2000 });
    const started = performance.now();
    await assert.rejects(store.evaluate(check('x')), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_STORE');
    assert.ok(performance.now() - started < 500, `failed after ${Math.round(performance.now() - started)} ms`);
    await store.close();

    // Duplicates keep the client's settings, its connection name too: count the connections by name.
    const live = new Redis(redis.url, { connectionName: 'bc-live' });
    clients.push(live);
    await live.ping();
    const countConnections = async (): Promise<number> =>
      ((await redis.shared.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => / name=bc-live /.test(line)).length;
    const before = await countConnections();
    assert.equal(before, 1);
    const used = new RedisStore({ client: live, pool: { size: 2 } });
    await used.evaluate(check('y'));
    assert.equal(await countConnections(), before + 2, 'the store opened two duplicates of the client');
    await used.close();
    await sleep(50);
    assert.equal(await countConnections(), before, 'close() closed the duplicates');
    assert.equal(await live.ping(), 'PONG', 'the borrowed client is still open');
  });

  it('closing the borrowed client closes the store too: its duplicates never outlive your client', async () => {
    const owner = new Redis(redis.url, { connectionName: 'bc-owner' });
    const countConnections = async (): Promise<number> =>
      ((await redis.shared.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => / name=bc-owner /.test(line)).length;
    const stores = [new RedisStore({ client: owner, pool: { size: 2 } }), new RedisStore({ client: owner })];
    for (const s of stores) await s.evaluate(check('z'));
    assert.equal(await countConnections(), 4, 'the client and three duplicates');
    const closedEarly = new RedisStore({ client: owner });
    await closedEarly.close(); // a store closed first stops following the client
    await owner.quit();
    await sleep(50);
    assert.equal(await countConnections(), 0, 'the duplicates closed with the client');
    for (const s of stores) {
      await assert.rejects(s.evaluate(check('z')), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_CLOSED');
    }
  });
});
