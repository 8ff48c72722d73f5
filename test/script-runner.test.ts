/**
 * Script runner (issue 2, item 3): the SHA1 is computed on the client and
 * matches the server's; checks run with EVALSHA and fall back to EVAL only
 * on NOSCRIPT, so a `SCRIPT FLUSH` between two checks fails neither; any
 * other error (a whole-call script error, OOM) is surfaced as a LimiterError
 * ERR_STORE and never replayed with EVAL, and a per-check error slot
 * (WRONGTYPE key, bad limit) is answered ERR_STORE without any retry. Both
 * runners are covered: `Script.run` and RedisStore's own. Command counts
 * come from the harness Redis's `INFO commandstats`.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Limiter, LimiterError, RedisStore, perMinute } from '../src/index.js';
import { decodeBatch, encodeBatch } from '../src/redis-codec.js';
import { packedScript } from '../src/lua.js';
import { gcraScript } from '../src/redis-store.js';
import { Script, type ScriptClient, isNoScript } from '../src/script.js';
import type { Check, CheckOutcome, RateOutcome } from '../src/store.js';
import { callsOf, commandStats, resetStats } from './helpers/commandstats.js';
import { useRedis } from './helpers/redis-server.js';

const LIMIT = perMinute(3);
const NOW = 1_750_000_000_000_000;
const T = 20_000_000; // perMinute(3)

/** Delegates to a real client and logs which script commands were called, in order. */
function logging(client: Redis, log: string[]): ScriptClient {
  return {
    evalsha: (sha, numkeys, ...args) => {
      log.push('evalsha');
      return client.evalsha(sha, numkeys, ...args);
    },
    eval: (source, numkeys, ...args) => {
      log.push('eval');
      return client.eval(source, numkeys, ...args);
    },
  };
}

const isStoreError = (pattern: RegExp) => (e: unknown) => e instanceof LimiterError && e.code === 'ERR_STORE' && pattern.test(e.message);

describe('script runner', () => {
  let store: RedisStore;
  let limiter: Limiter;
  // Registered before useRedis(), so the store closes before the server stops.
  after(async () => {
    await store.close();
  });
  const redis = useRedis();
  before(() => {
    store = new RedisStore({ client: redis.shared, prefix: 'sr:', denyCache: false });
    limiter = new Limiter({ store });
  });
  beforeEach(async () => {
    await redis.shared.config('SET', 'maxmemory', '0');
    await redis.shared.flushdb();
    await redis.shared.script('LOAD', gcraScript.source);
    await redis.shared.script('LOAD', packedScript.source);
    await resetStats(redis.shared);
  });

  it('computes the same SHA1 as the server', async () => {
    assert.equal(await redis.shared.script('LOAD', gcraScript.source), gcraScript.sha);
    const tiny = new Script("return 'x'");
    assert.equal(await redis.shared.script('LOAD', tiny.source), tiny.sha);
  });

  it('runs a loaded script with EVALSHA alone', async () => {
    assert.equal((await limiter.allow('k', LIMIT)).remaining, 2);
    assert.equal((await limiter.allow('k', LIMIT)).remaining, 1);
    assert.equal(await callsOf(redis.shared, 'evalsha'), 2);
    assert.equal(await callsOf(redis.shared, 'eval'), 0);
  });

  it('survives SCRIPT FLUSH between two checks: EVALSHA, NOSCRIPT, then EVAL once', async () => {
    const first = await limiter.allow('k', LIMIT);
    await redis.shared.script('FLUSH');
    const second = await limiter.allow('k', LIMIT);
    assert.deepEqual([first.allowed, first.remaining, second.allowed, second.remaining], [true, 2, true, 1]);

    const stats = await commandStats(redis.shared);
    assert.equal(stats.get('evalsha')?.calls, 2, 'one EVALSHA per check');
    assert.equal(stats.get('evalsha')?.failed, 1, 'the second EVALSHA answered NOSCRIPT');
    assert.equal(stats.get('eval')?.calls, 1, 'exactly one EVAL fallback');
    assert.equal(stats.get('eval')?.failed ?? 0, 0);
    // The script is cached again (a lone rate check runs the packed-only one): the next check needs EVALSHA only.
    assert.deepEqual(await redis.shared.script('EXISTS', packedScript.sha), [1]);
    assert.equal((await limiter.allow('k', LIMIT)).remaining, 0);
    assert.equal(await callsOf(redis.shared, 'eval'), 1);
    assert.equal(await callsOf(redis.shared, 'evalsha'), 3);
  });

  it('survives SCRIPT FLUSH under concurrent checks (no check fails, exact counts)', async () => {
    await redis.shared.script('FLUSH');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => limiter.allow(`c${i % 4}`, LIMIT)));
    assert.equal(results.filter((r) => r.allowed).length, 12, '3 per key, 4 keys');
    assert.ok((await callsOf(redis.shared, 'eval')) >= 1);
  });

  it('Script.run: EVALSHA, then EVAL only on NOSCRIPT, with the same reply', async () => {
    const checks: Check[] = [{ mode: 'all', items: [{ key: 'x', interval: T, burst: 3, cost: 1 }] }];
    const { keys, args } = encodeBatch(checks, 'sr:', NOW);
    const log: string[] = [];
    const via = logging(redis.shared, log);
    assert.deepEqual(await gcraScript.run(via, keys, args), [NOW, 0]);
    assert.deepEqual(log, ['evalsha']);
    await redis.shared.script('FLUSH');
    log.length = 0;
    const reply = await gcraScript.run(via, keys, args);
    assert.deepEqual(log, ['evalsha', 'eval']);
    assert.deepEqual(reply, [NOW, NOW + T], 'the EVAL fallback ran the same script on the same state');
    const [outcome] = decodeBatch(reply, checks) as [CheckOutcome];
    assert.deepEqual([outcome.allowed, outcome.items[0]?.remaining, (outcome.items[0] as RateOutcome | undefined)?.tat], [true, 1, NOW + 2 * T]);
    assert.equal(await redis.shared.get('sr:x'), String(NOW + 2 * T));
  });

  it('Script.run: a whole-call script error is thrown once and not replayed with EVAL, before or after a flush', async () => {
    const log: string[] = [];
    const badNow = ['x', 1, T, 3, 1, 1];
    await assert.rejects(gcraScript.run(logging(redis.shared, log), ['sr:k'], badNow), (e: unknown) => e instanceof Error && /now must be an integer/.test(e.message));
    await assert.rejects(gcraScript.run(logging(redis.shared, log), [], ['', 'x']), (e: unknown) => e instanceof Error && /limit count/.test(e.message));
    await assert.rejects(gcraScript.run(logging(redis.shared, log), [], ['', 1, T, 3, 0]), (e: unknown) => e instanceof Error && /check count/.test(e.message));
    assert.deepEqual(log, ['evalsha', 'evalsha', 'evalsha']);
    await redis.shared.script('FLUSH');
    log.length = 0;
    await assert.rejects(gcraScript.run(logging(redis.shared, log), ['sr:k'], badNow), (e: unknown) => e instanceof Error && /now must be an integer/.test(e.message));
    assert.deepEqual(log, ['evalsha', 'eval'], 'the EVAL after NOSCRIPT fails and is not retried');
    assert.equal(await redis.shared.dbsize(), 0);
  });

  it('a WRONGTYPE key is answered in its slot: ERR_STORE, no EVAL, the key untouched', async () => {
    await redis.shared.hset('sr:h', 'field', 'value');
    await assert.rejects(limiter.allow('h', LIMIT), isStoreError(/WRONGTYPE/));
    assert.equal(await callsOf(redis.shared, 'evalsha'), 1);
    assert.equal(await callsOf(redis.shared, 'eval'), 0);
    assert.deepEqual(await redis.shared.hgetall('sr:h'), { field: 'value' });
  });

  it('a script error reply for a bad limit is surfaced as ERR_STORE and not replayed', async () => {
    // Bypasses the Limiter's validation on purpose: an interval of 0 reaches the script.
    await assert.rejects(store.evaluate({ mode: 'all', items: [{ key: 'bad', interval: 0, burst: 1, cost: 1 }] }), isStoreError(/T \(emission interval\) of limit 1/));
    assert.equal(await callsOf(redis.shared, 'evalsha'), 1);
    assert.equal(await callsOf(redis.shared, 'eval'), 0);
    assert.equal(await redis.shared.dbsize(), 0);
  });

  it('RedisStore: an error that is not NOSCRIPT (OOM) is surfaced as ERR_STORE and not replayed', async () => {
    await redis.shared.config('SET', 'maxmemory', '1');
    await assert.rejects(limiter.allow('k', LIMIT), isStoreError(/OOM/));
    assert.equal(await callsOf(redis.shared, 'evalsha'), 1);
    assert.equal(await callsOf(redis.shared, 'eval'), 0);
    // A peek writes nothing and still runs under the memory limit.
    assert.equal((await limiter.peek('k', LIMIT)).remaining, 3);
    await redis.shared.config('SET', 'maxmemory', '0');
    assert.equal(await redis.shared.exists('sr:k'), 0);
  });

  it('RedisStore: after a flush, an error of the EVAL fallback is surfaced once, not retried again', async () => {
    await redis.shared.config('SET', 'maxmemory', '1');
    await redis.shared.script('FLUSH');
    await assert.rejects(limiter.allow('k', LIMIT), isStoreError(/OOM/));
    assert.equal(await callsOf(redis.shared, 'evalsha'), 1);
    assert.equal(await callsOf(redis.shared, 'eval'), 1);
    await redis.shared.config('SET', 'maxmemory', '0');
    assert.equal((await limiter.allow('k', LIMIT)).remaining, 2, 'healthy again once memory is available');
  });

  it('recognises NOSCRIPT replies and nothing else', async () => {
    const noscript = await redis.shared.evalsha('0'.repeat(40), 0).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isNoScript(noscript), String(noscript));
    // As an ioredis Cluster reports it when the call's redirections ran out and the last attempt got NOSCRIPT.
    assert.ok(isNoScript(new Error(`Too many Cluster redirections. Last error: ${String(noscript)}`)));
    assert.equal(isNoScript(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.')), false);
    await redis.shared.hset('sr:h', 'field', 'value');
    const wrongType = await redis.shared.get('sr:h').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(wrongType instanceof Error);
    assert.equal(isNoScript(wrongType), false);
    assert.equal(isNoScript('NOSCRIPT as a string'), false);
    assert.equal(isNoScript(undefined), false);
  });
});
