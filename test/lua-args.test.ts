/**
 * Lua argument validation (SPEC section 7, last paragraph): lua/gcra.lua
 * called directly with EVALSHA, bypassing the JS layer. Bad ARGV answers an
 * error reply and writes nothing; a bad check inside a batch fails only its
 * own slot while the other checks are evaluated; a corrupt stored TAT is
 * reported, not trusted.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { gcraScript } from '../src/redis-store.js';
import { type RedisProcess, startRedis } from './helpers/redis-server.js';

const NOW = 1_750_000_000_000_000;
const T = 20_000_000; // perMinute(3)
const B = 3;

type Arg = string | number;
/** One check's ARGV part: mode, item count, then T, B, n per item. */
const check = (mode: Arg, ...items: [Arg, Arg, Arg][]): Arg[] => [mode, items.length, ...items.flat()];

describe('lua/gcra.lua argument validation', () => {
  let redis: RedisProcess;
  let client: Redis;

  /** EVALSHA the script directly; resolves with the reply or the thrown error. */
  async function call(keys: string[], args: Arg[]): Promise<unknown> {
    try {
      return await client.evalsha(gcraScript.sha, keys.length, ...keys, ...args);
    } catch (error) {
      return error;
    }
  }

  /** Asserts `reply` is an error whose message matches `pattern`. */
  function assertError(reply: unknown, pattern: RegExp, what: string): void {
    assert.ok(reply instanceof Error, `${what}: expected an error reply, got ${JSON.stringify(reply)}`);
    assert.match(reply.message, pattern, what);
    assert.match(reply.message, /^ERR tollgate: /, what);
  }

  /** Asserts a per-check reply array whose slot `i` is an error matching `pattern`. */
  function assertSlotError(reply: unknown, i: number, pattern: RegExp, what: string): void {
    assert.ok(Array.isArray(reply), `${what}: expected a reply per check, got ${String(reply)}`);
    assertError(reply[i], pattern, `${what} (slot ${i})`);
  }

  before(async () => {
    redis = await startRedis();
    client = redis.client();
    assert.equal(await client.script('LOAD', gcraScript.source), gcraScript.sha, 'the client-side SHA1 matches the server');
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    await client.flushdb();
  });

  it('answers a valid check with the documented reply layout', async () => {
    const reply = await call(['k'], [NOW, 1, ...check(0, [T, B, 1])]);
    // { allowed, now, then per item: allowed, granted, remaining, retryAfter, resetAfter, tat }
    assert.deepEqual(reply, [[1, NOW, 1, 1, 2, 0, T, NOW + T]]);
    assert.equal(await client.get('k'), String(NOW + T));
  });

  it('reads the server clock when ARGV[1] is empty', async () => {
    const [sec] = (await client.time()).map(Number) as [number];
    const reply = (await call(['k'], ['', 1, ...check(0, [T, B, 1])])) as number[][];
    const now = reply[0]?.[1] ?? 0;
    assert.ok(Math.abs(now - sec * 1_000_000) < 5_000_000, `script now ${now} vs TIME ${sec}`);
  });

  for (const bad of ['abc', '1.5', '-1', String(2 ** 53), 'nan', '1e400']) {
    it(`rejects now = ${JSON.stringify(bad)} for the whole call`, async () => {
      assertError(await call(['k'], [bad, 1, ...check(0, [T, B, 1])]), /now must be an integer/, bad);
      assert.equal(await client.dbsize(), 0);
    });
  }

  for (const bad of ['0', 'x', '1.5', '-2']) {
    it(`rejects check count = ${JSON.stringify(bad)} for the whole call`, async () => {
      assertError(await call(['k'], [NOW, bad, ...check(0, [T, B, 1])]), /check count must be an integer >= 1/, bad);
      assert.equal(await client.dbsize(), 0);
    });
  }

  it('rejects a missing check count', async () => {
    assertError(await call([], [NOW]), /check count/, 'no ARGV[2]');
  });

  const badItems: { name: string; args: Arg[]; pattern: RegExp }[] = [
    { name: 'T = 1.5', args: check(0, ['1.5', B, 1]), pattern: /T \(emission interval\) must be an integer >= 1/ },
    { name: 'T = 0', args: check(0, [0, B, 1]), pattern: /T \(emission interval\)/ },
    { name: 'T = -3', args: check(0, [-3, B, 1]), pattern: /T \(emission interval\)/ },
    { name: 'T = abc', args: check(0, ['abc', B, 1]), pattern: /T \(emission interval\).*got abc/ },
    { name: 'T = 1e400', args: check(0, ['1e400', B, 1]), pattern: /T \(emission interval\)/ },
    { name: 'B = 0', args: check(0, [T, 0, 1]), pattern: /B \(burst\) must be an integer >= 1/ },
    { name: 'B = 2.5', args: check(0, [T, '2.5', 1]), pattern: /B \(burst\)/ },
    { name: 'n = -1', args: check(0, [T, B, -1]), pattern: /n \(cost\) must be an integer >= 0/ },
    { name: 'n = 1.5', args: check(0, [T, B, '1.5']), pattern: /n \(cost\)/ },
    { name: 'n = 0 in mode 1 (at most)', args: check(1, [T, B, 0]), pattern: /n \(cost\) must be an integer >= 1/ },
    { name: 'mode = 2', args: check(2, [T, B, 1]), pattern: /mode must be 0 or 1, got 2/ },
    { name: 'mode = x', args: check('x', [T, B, 1]), pattern: /mode must be 0 or 1/ },
    { name: 'T * B >= 2^53', args: check(0, [2 ** 52, 2, 0]), pattern: /below 2\^53/ },
    { name: 'now + T * B + n * T = 2^53', args: check(0, [1, 2 ** 53 - NOW - 5, 5]), pattern: /below 2\^53/ },
  ];
  for (const { name, args, pattern } of badItems) {
    it(`answers an error reply in the check's slot for ${name}, writing nothing`, async () => {
      const keys = Array.from({ length: Number(args[1]) }, (_, i) => `k${i}`);
      assertSlotError(await call(keys, [NOW, 1, ...args]), 0, pattern, name);
      assert.equal(await client.dbsize(), 0);
    });
  }

  it('accepts the largest check below 2^53', async () => {
    const reply = (await call(['k'], [NOW, 1, ...check(0, [1, 2 ** 53 - NOW - 6, 5])])) as number[][];
    assert.equal(reply[0]?.[0], 1);
    assert.equal(await client.get('k'), String(NOW + 5));
  });

  it('rejects mode 1 (at most) with two items', async () => {
    assertSlotError(await call(['a', 'b'], [NOW, 1, ...check(1, [T, B, 1], [T, B, 1])]), 0, /exactly one item, got 2/, 'mode 1');
    assert.equal(await client.dbsize(), 0);
  });

  it('fails a whole compound check when any item is invalid, writing none of its items', async () => {
    assertSlotError(await call(['a', 'b'], [NOW, 1, ...check(0, [T, B, 1], [T, 0, 1])]), 0, /B \(burst\)/, 'second item');
    assert.equal(await client.dbsize(), 0);
  });

  for (const count of ['0', 'x', '1.5', '5']) {
    it(`treats item count ${JSON.stringify(count)} as unreadable and fails every later check too`, async () => {
      const reply = await call(['a', 'b'], [NOW, 3, ...check(0, [T, B, 1]), 0, count, T, B, 1, ...check(0, [T, B, 1])]);
      assert.ok(Array.isArray(reply) && reply.length === 3, JSON.stringify(reply));
      assert.deepEqual(reply[0], [1, NOW, 1, 1, 2, 0, T, NOW + T], 'the check before it is evaluated');
      assertSlotError(reply, 1, /item count must be an integer >= 1|check declares/, 'bad count');
      assertSlotError(reply, 2, /unreadable after check 2/, 'after the bad count');
      assert.deepEqual(await client.keys('*'), ['a']);
    });
  }

  it('fails a check whose ARGV is too short for its declared items', async () => {
    const reply = await call(['a'], [NOW, 1, 0, 1, T]);
    assertSlotError(reply, 0, /KEYS\/ARGV are too short/, 'short ARGV');
    assert.equal(await client.dbsize(), 0);
  });

  it('fails the missing checks when the check count is larger than the checks given', async () => {
    const reply = await call(['a'], [NOW, 2, ...check(0, [T, B, 1])]);
    assert.ok(Array.isArray(reply) && reply.length === 2);
    assert.equal((reply[0] as number[])[0], 1);
    assertSlotError(reply, 1, /item count/, 'missing check');
    assert.deepEqual(await client.keys('*'), ['a']);
  });

  it('fails only the bad check of a batch; the others are evaluated and written', async () => {
    const reply = await call(['a', 'b', 'c'], [NOW, 3, ...check(0, [T, B, 1]), ...check(0, [0, B, 1]), ...check(1, [T, B, 5])]);
    assert.ok(Array.isArray(reply) && reply.length === 3);
    assert.deepEqual(reply[0], [1, NOW, 1, 1, 2, 0, T, NOW + T]);
    assertSlotError(reply, 1, /T \(emission interval\)/, 'middle check');
    assert.deepEqual(reply[2], [1, NOW, 1, 3, 0, 0, 3 * T, NOW + 3 * T]);
    assert.deepEqual((await client.keys('*')).sort(), ['a', 'c']);
    assert.equal(await client.exists('b'), 0);
  });

  it('evaluates the checks of a batch in order at one now', async () => {
    const reply = await call(['k', 'k', 'k', 'k'], [NOW, 4, ...check(0, [T, B, 2]), ...check(0, [T, B, 2]), ...check(1, [T, B, 5]), ...check(0, [T, B, 0])]);
    assert.deepEqual(reply, [
      [1, NOW, 1, 2, 1, 0, 2 * T, NOW + 2 * T], // takes 2
      [0, NOW, 0, 0, 1, T, 2 * T, NOW + 2 * T], // 2 more denied: retry in T; 1 left
      [1, NOW, 1, 1, 0, 0, 3 * T, NOW + 3 * T], // at most 5: gets the 1 left
      [1, NOW, 1, 0, 0, 0, 3 * T, NOW + 3 * T], // peek: empty
    ]);
    assert.equal(await client.get('k'), String(NOW + 3 * T));
  });

  for (const corrupt of ['abc', '1.5', '9e99', '1e400', '']) {
    it(`reports a stored TAT of ${JSON.stringify(corrupt)} instead of trusting it, and leaves it alone`, async () => {
      await client.set('bad', corrupt);
      const reply = await call(['bad', 'good'], [NOW, 2, ...check(0, [T, B, 1]), ...check(0, [T, B, 1])]);
      assertSlotError(reply, 0, /stored TAT at bad is not an integer below 2\^53/, corrupt);
      assert.deepEqual((reply as unknown[])[1], [1, NOW, 1, 1, 2, 0, T, NOW + T], 'the next check is unaffected');
      assert.equal(await client.get('bad'), corrupt);
    });
  }

  it('treats a stored TAT in the past as now', async () => {
    await client.set('old', '5');
    assert.deepEqual(await call(['old'], [NOW, 1, ...check(0, [T, B, 1])]), [[1, NOW, 1, 1, 2, 0, T, NOW + T]]);
  });
});
