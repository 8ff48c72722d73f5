/**
 * lua/gcra.lua called directly with EVALSHA, bypassing the JS layer (SPEC
 * section 7, last paragraph), with arguments built by encodeBatch or by hand:
 * the reply layout { now, one stored TAT per key, negated when denied };
 * whole-call errors (now, limit count, check count); per-check error slots
 * (bad limit pair, limit index, cost, packed value, 2^53 overflow, corrupt
 * stored TAT) that leave the other checks of the batch evaluated and written
 * in order at one now; unreadable check headers that fail every later slot.
 * decodeBatch is held to the same replies (round trips, tampered and
 * malformed replies). Writes are observed through MONITOR.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { LimiterError } from '../src/errors.js';
import { evaluateGcra } from '../src/gcra.js';
import { decodeBatch, encodeBatch } from '../src/redis-codec.js';
import { gcraScript } from '../src/redis-store.js';
import type { Check, CheckItem, CheckOutcome, RateItem } from '../src/store.js';
import { useRedis } from './helpers/redis-server.js';
import { ScriptWrites } from './helpers/script-writes.js';

const NOW = 1_750_000_000_000_000;
const T = 20_000_000; // perMinute(3): T = 20 s
const B = 3;
const T2 = 1_000_000; // a second limit: 1/s, burst 10
const B2 = 10;

type Arg = string | number;
/** An expected reply entry: an integer, or an error reply whose message matches. */
type Slot = number | RegExp;

const item = (key: string, cost: number, interval = T, burst = B): CheckItem => ({ key, interval, burst, cost });
const all = (...items: CheckItem[]): Check => ({ mode: 'all', items });
const atMost = (...items: CheckItem[]): Check => ({ mode: 'atMost', items });
const isCode = (value: unknown, code: string, pattern = /./): boolean => value instanceof LimiterError && value.code === code && pattern.test(value.message);

/** What a store evaluating `checks` one by one at `now` on `state` would answer (src/gcra.ts). */
function reference(checks: readonly Check[], now: number, state = new Map<string, number>()): CheckOutcome[] {
  const tats = { get: (key: string) => state.get(key), set: (key: string, tat: number) => void state.set(key, tat) };
  return checks.map((check) => ({ ...evaluateGcra(check as Check<RateItem>, now, tats), now, source: 'redis' }));
}

/** Asserts `reply` is an error reply of the script whose message matches `pattern`. */
function assertError(reply: unknown, pattern: RegExp, what: string): void {
  assert.ok(reply instanceof Error, `${what}: expected an error reply, got ${String(reply)}`);
  assert.match(reply.message, /^ERR tollgate: /, what);
  assert.match(reply.message, pattern, what);
}

/** Asserts a reply { now, entries... } entry by entry. */
function assertReply(reply: unknown, now: number, slots: readonly Slot[], what = 'reply'): void {
  assert.ok(Array.isArray(reply), `${what}: expected an array, got ${String(reply)}`);
  assert.equal(reply.length, slots.length + 1, `${what}: ${slots.length} entries after now, got ${JSON.stringify(reply)}`);
  assert.equal(reply[0], now, `${what}: now`);
  slots.forEach((slot, i) => {
    if (slot instanceof RegExp) assertError(reply[i + 1], slot, `${what}, entry ${i + 1}`);
    else assert.equal(reply[i + 1], slot, `${what}, entry ${i + 1}`);
  });
}

describe('lua/gcra.lua arguments and reply', () => {
  let writes: ScriptWrites;
  // Registered before useRedis(), so MONITOR stops before the server does.
  after(() => writes.close());
  const redis = useRedis();
  before(async () => {
    writes = await ScriptWrites.start(redis.port);
  });

  /** EVALSHA the script directly; resolves with the reply or the error. */
  async function call(keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    try {
      return await redis.shared.evalsha(gcraScript.sha, keys.length, ...keys, ...args);
    } catch (error) {
      return error;
    }
  }

  /** Encodes `checks` (no prefix) at `now` or the server clock, runs them, and decodes the reply. */
  async function run(checks: readonly Check[], now: number | 'server' = NOW): Promise<{ reply: unknown; outcomes: (CheckOutcome | LimiterError)[] }> {
    const { keys, args } = encodeBatch(checks, '', now === 'server' ? undefined : now);
    const reply = await call(keys, args);
    return { reply, outcomes: decodeBatch(reply, checks) };
  }

  /** The SETs scripts ran since the last call, as [key, value, px]. */
  async function written(): Promise<string[][]> {
    return (await writes.take(redis.shared)).map((w) => [w.key, w.value, w.px]);
  }

  beforeEach(async () => {
    await redis.shared.flushdb();
    await redis.shared.script('LOAD', gcraScript.source);
    await writes.take(redis.shared);
  });

  it('has the SHA1 that SCRIPT LOAD returns', async () => {
    assert.equal(await redis.shared.script('LOAD', gcraScript.source), gcraScript.sha);
  });

  it('packs a single item into one argument and answers now and the stored TAT', async () => {
    const checks = [all(item('k', 1))];
    const { keys, args } = encodeBatch(checks, '', NOW);
    assert.deepEqual(keys, ['k']);
    assert.deepEqual(args, [NOW, 1, T, B, 1, 1], 'now, L = 1, (T, B), C = 1, h = n * L + 0');
    assertReply(await call(keys, args), NOW, [0], 'absent key');
    assert.deepEqual(await written(), [['k', String(NOW + T), '20000']]);

    const second = await run(checks);
    assertReply(second.reply, NOW, [NOW + T], 'stored key');
    assert.deepEqual(await written(), [['k', String(NOW + 2 * T), '40000']]);
    assert.deepEqual(second.outcomes, [
      { allowed: true, now: NOW, source: 'redis', items: [{ allowed: true, granted: 1, remaining: 1, retryAfter: 0, resetAfter: 2 * T, tat: NOW + 2 * T }] },
    ]);
  });

  it('encodes a limit table, packed items on any limit, "a" and "m" checks; decodes what the TS twin computes', async () => {
    const checks = [all(item('a', 2, T2, B2)), all(item('b', 1)), atMost(item('c', 5)), all(item('d', 1), item('e', 0, T2, B2))];
    const { keys, args } = encodeBatch(checks, '', NOW);
    assert.deepEqual(keys, ['a', 'b', 'c', 'd', 'e']);
    // L = 2: h = 2 * 2 + 0 on limit 1, 1 * 2 + 1 on limit 2.
    assert.deepEqual(args, [NOW, 2, T2, B2, T, B, 4, 4, 3, 'a', 2, 5, 'm', 2, 2, 1, 1, 0]);
    const reply = await call(keys, args);
    assertReply(reply, NOW, [0, 0, 0, 0, 0]);
    assert.deepEqual(await written(), [
      ['a', String(NOW + 2 * T2), '2000'],
      ['b', String(NOW + T), '20000'],
      ['c', String(NOW + 3 * T), '60000'], // at most 5 of a burst of 3
      ['d', String(NOW + T), '20000'], // e is a peek: no write
    ]);
    assert.equal(await redis.shared.exists('e'), 0);
    assert.deepEqual(decodeBatch(reply, checks), reference(checks, NOW));
  });

  it('reads the Redis server clock when ARGV[1] is empty', async () => {
    const [sec, usec] = (await redis.shared.time()).map(Number) as [number, number];
    const { reply, outcomes } = await run([all(item('k', 1))], 'server');
    assert.ok(Array.isArray(reply));
    const now = reply[0] as number;
    assert.ok(Number.isSafeInteger(now) && now >= sec * 1_000_000 + usec && now < (sec + 5) * 1_000_000, `script now ${now} vs TIME ${sec}.${usec}`);
    assert.equal(reply[1], 0);
    assert.equal(await redis.shared.get('k'), String(now + T));
    assert.deepEqual(outcomes, reference([all(item('k', 1))], now));
  });

  describe('whole-call errors (one error reply, nothing written)', () => {
    for (const bad of ['abc', '1.5', '-1', String(2 ** 53), 'nan', '1e400']) {
      it(`now = ${JSON.stringify(bad)}`, async () => {
        assertError(await call(['k'], [bad, 1, T, B, 1, 1]), /now must be an integer >= 0 and < 2\^53/, bad);
        assert.equal(await redis.shared.dbsize(), 0);
      });
    }
    for (const bad of ['x', '1.5', '-2', '']) {
      it(`limit count = ${JSON.stringify(bad)}`, async () => {
        assertError(await call(['k'], [NOW, bad, T, B, 1, 1]), /limit count must be an integer >= 0/, bad);
        assert.equal(await redis.shared.dbsize(), 0);
      });
    }
    it('limit count 0 (a call of other kinds only): a packed rate check fails its slot alone', async () => {
      const reply = (await call(['k', 'j'], [NOW, 0, 2, 3, 'x', 1, 'q', 5, 1, 2, NOW + 1, NOW + 2, 1])) as unknown[];
      assert.ok(reply[1] instanceof Error && /the limit count is 0/.test(reply[1].message), String(reply[1]));
      assert.equal(reply[2], 0);
      assert.equal(await redis.shared.dbsize(), 1);
    });
    for (const bad of ['2', '1000000']) {
      it(`limit count ${bad} larger than the pairs given (the script does not loop over missing pairs)`, async () => {
        assertError(await call(['k'], [NOW, bad, T, B, 1]), new RegExp(`limit count ${bad} is more than the \\(T, B\\) pairs given`), bad);
        assert.equal(await redis.shared.dbsize(), 0);
      });
    }
    for (const bad of ['0', 'x', '1.5', '-2']) {
      it(`check count = ${JSON.stringify(bad)}`, async () => {
        assertError(await call(['k'], [NOW, 1, T, B, bad, 1]), /check count must be an integer >= 1/, bad);
        assert.equal(await redis.shared.dbsize(), 0);
      });
    }
    it('a missing check count, and a missing limit count', async () => {
      assertError(await call([], [NOW, 1, T, B]), /check count must be an integer >= 1, got nil/, 'no C');
      assertError(await call([], [NOW]), /limit count must be an integer >= 0, got nil/, 'no L');
      assert.equal(await redis.shared.dbsize(), 0);
    });
  });

  describe('an invalid limit pair fails only the checks that use it', () => {
    const badPairs: { name: string; pair: [Arg, Arg]; pattern: RegExp }[] = [
      ...['0', '1.5', '-3', 'abc', '1e400', String(2 ** 53)].map((t) => ({
        name: `T = ${t}`,
        pair: [t, B] as [Arg, Arg],
        pattern: new RegExp(`T \\(emission interval\\) of limit 2 must be an integer >= 1 and < 2\\^53, got ${t.replace('.', '\\.')}`),
      })),
      ...['0', '2.5', '-1'].map((b) => ({ name: `B = ${b}`, pair: [T2, b] as [Arg, Arg], pattern: /B \(burst\) of limit 2 must be an integer >= 1/ })),
      { name: 'T * B = 2^53', pair: [2 ** 52, 2], pattern: /T \* B of limit 2 must stay below 2\^53/ },
    ];
    for (const { name, pair, pattern } of badPairs) {
      it(name, async () => {
        // Checks: a on limit 1, b on limit 2, m (c on 1, d on 2), "a" e on 2, f on 1.
        const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
        const reply = await call(keys, [NOW, 2, T, B, ...pair, 5, 1 * 2 + 0, 1 * 2 + 1, 'm', 2, 1, 1, 2, 1, 'a', 2, 1, 1 * 2 + 0]);
        assertReply(reply, NOW, [0, pattern, pattern, pattern, pattern, 0], name);
        assert.deepEqual(await written(), [
          ['a', String(NOW + T), '20000'],
          ['f', String(NOW + T), '20000'],
        ]);
        assert.deepEqual((await redis.shared.keys('*')).sort(), ['a', 'f']);
      });
    }

    it('round trip: a zero interval is ERR_STORE, T * B past 2^53 is ERR_OVERFLOW, the other checks are decoded', async () => {
      const checks = [all(item('a', 1)), all(item('b', 1, 0, B)), atMost(item('c', 2, 2 ** 52, 2)), all(item('d', 1))];
      const { reply, outcomes } = await run(checks);
      assertReply(reply, NOW, [0, /T \(emission interval\) of limit 2/, /T \* B of limit 3/, 0]);
      const expected = reference([checks[0] as Check, checks[3] as Check], NOW);
      assert.deepEqual(outcomes[0], expected[0]);
      assert.ok(isCode(outcomes[1], 'ERR_STORE', /T \(emission interval\)/), String(outcomes[1]));
      assert.ok(isCode(outcomes[2], 'ERR_OVERFLOW', /must stay below 2\^53/), String(outcomes[2]));
      assert.deepEqual(outcomes[3], expected[1]);
      assert.deepEqual((await redis.shared.keys('*')).sort(), ['a', 'd']);
    });
  });

  for (const index of ['0', '3', 'x', '1.5', '-1']) {
    it(`limit index ${JSON.stringify(index)} fails its "a" or "m" check only`, async () => {
      const reply = await call(['a', 'b', 'c', 'd'], [NOW, 2, T, B, T2, B2, 3, 'a', index, 1, 'm', 2, 1, 1, index, 1, 1 * 2 + 0]);
      const bad = new RegExp(`limit index must be an integer in \\[1, 2\\], got ${index.replace('.', '\\.')}`);
      assertReply(reply, NOW, [bad, bad, bad, 0]);
      assert.deepEqual(await written(), [['d', String(NOW + T), '20000']]);
    });
  }

  for (const n of ['-1', '1.5', 'x', String(2 ** 53), '0']) {
    it(`cost n = ${n}: "a" takes n >= 1, "m" takes n >= 0`, async () => {
      const reply = await call(['a', 'b', 'c', 'd'], [NOW, 1, T, B, 3, 'a', 1, n, 'm', 2, 1, 1, 1, n, 1]);
      const a = new RegExp(`n \\(cost\\) must be an integer >= 1 and < 2\\^53, got ${n.replace('.', '\\.')}`);
      const m = /n \(cost\) must be an integer >= 0 and < 2\^53/;
      if (n === '0') {
        // A peek inside "m": allowed, writes only the other item.
        assertReply(reply, NOW, [a, 0, 0, 0]);
        assert.deepEqual(await written(), [
          ['b', String(NOW + T), '20000'],
          ['d', String(NOW + T), '20000'],
        ]);
      } else {
        assertReply(reply, NOW, [a, m, m, 0]);
        assert.deepEqual(await written(), [['d', String(NOW + T), '20000']]);
      }
    });
  }

  for (const h of ['-1', '1.5', '-0.5', String(2 ** 53), '1e400', 'nan']) {
    it(`packed check ${h} fails its slot only`, async () => {
      const reply = await call(['bad', 'good'], [NOW, 1, T, B, 2, h, 1]);
      assertReply(reply, NOW, [/packed check must be an integer in \[0, 2\^53\)/, 0], h);
      assert.deepEqual(await written(), [['good', String(NOW + T), '20000']]);
    });
  }

  it('packs n and the limit index exactly up to the largest values (L = 3)', async () => {
    // h = n * 3 + 2: limit 3, n = 2 on a burst of 2 (the last unit).
    const reply = await call(['x', 'y'], [NOW, 3, T, B, T2, B2, T, 2, 2, 2 * 3 + 2, 0 * 3 + 1]);
    assertReply(reply, NOW, [0, 0]);
    assert.deepEqual(await written(), [['x', String(NOW + 2 * T), '40000']]);
    assert.equal(await redis.shared.exists('y'), 0, 'n = 0 on limit 2 is a peek');
  });

  describe('2^53: now + T * B + n * T must stay below it', () => {
    const largest = 2 ** 53 - NOW - 6; // now + 1 * largest + 5 * 1 = 2^53 - 1
    const forms: { name: string; args: (burst: number) => Arg[] }[] = [
      { name: 'packed', args: (burst) => [NOW, 1, 1, burst, 1, 5] },
      { name: '"m"', args: (burst) => [NOW, 1, 1, burst, 1, 'm', 1, 1, 5] },
      { name: '"a"', args: (burst) => [NOW, 1, 1, burst, 1, 'a', 1, 5] },
    ];
    for (const { name, args } of forms) {
      it(`${name}: 2^53 is rejected, 2^53 - 1 is accepted`, async () => {
        assertReply(await call(['k'], args(largest + 1)), NOW, [/T \* B \+ n \* T \+ now must stay below 2\^53/], 'at 2^53');
        assert.deepEqual(await written(), []);
        assertReply(await call(['k'], args(largest)), NOW, [0], 'at 2^53 - 1');
        assert.deepEqual(await written(), [['k', String(NOW + 5), '1']]);
      });
    }
    it('round trip: ERR_OVERFLOW at 2^53, the full figures below it', async () => {
      const over = await run([all(item('k', 5, 1, largest + 1))]);
      assert.ok(isCode(over.outcomes[0], 'ERR_OVERFLOW'), String(over.outcomes[0]));
      const checks = [all(item('k', 5, 1, largest))];
      const ok = await run(checks);
      assert.deepEqual(ok.outcomes, reference(checks, NOW));
      assert.equal((ok.outcomes[0] as CheckOutcome).items[0]?.remaining, largest - 5);
    });
  });

  it('fails a whole compound check when one item is invalid, writing none of its items', async () => {
    const reply = await call(['a', 'b', 'c', 'd'], [NOW, 1, T, B, 2, 'm', 3, 1, 1, 1, 1, 1, -1, 1]);
    const bad = /n \(cost\) must be an integer >= 0/;
    assertReply(reply, NOW, [bad, bad, bad, 0]);
    assert.deepEqual(await written(), [['d', String(NOW + T), '20000']]);
  });

  describe('an unreadable check header fails every later slot', () => {
    const headers: { name: string; header: Arg[] }[] = [
      { name: 'header "x"', header: ['x'] },
      { name: '"m" with item count 0', header: ['m', 0, 1, 1] },
      { name: '"m" with item count "x"', header: ['m', 'x', 1, 1] },
      { name: '"m" with item count 1.5', header: ['m', 1.5, 1, 1] },
      { name: '"m" with more items than KEYS left', header: ['m', 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] },
      { name: '"m" with more items than ARGV left', header: ['m', 2, 1] },
      { name: 'a missing header (check count larger than the checks given)', header: [] },
    ];
    for (const { name, header } of headers) {
      it(name, async () => {
        // Checks: a (packed), the bad one, then one more packed check (unreached).
        const tail = header.length > 0 ? [...header, 1] : [];
        const reply = await call(['a', 'b', 'c'], [NOW, 1, T, B, 3, 1, ...tail]);
        assertReply(reply, NOW, [0, /check at ARGV\[7\] is unreadable/, /check at ARGV\[7\] is unreadable/], name);
        assert.deepEqual(await written(), [['a', String(NOW + T), '20000']]);
      });
    }
    it('a missing check in a one-key call, and "a" without its cost', async () => {
      assertReply(await call(['a'], [NOW, 1, T, B, 1]), NOW, [/check at ARGV\[6\] is unreadable \(nil\)/], 'no check');
      assertReply(await call(['a'], [NOW, 1, T, B, 1, 'a', 1]), NOW, [/n \(cost\) must be an integer >= 1 and < 2\^53, got nil/], '"a" i');
      assert.equal(await redis.shared.dbsize(), 0);
    });
    it('fewer KEYS than checks: the reply is short and decodeBatch fails every check', async () => {
      const checks = [all(item('a', 1)), all(item('b', 1))];
      const { args } = encodeBatch(checks, '', NOW);
      const reply = await call(['a'], args);
      assertReply(reply, NOW, [0]);
      const outcomes = decodeBatch(reply, checks);
      assert.ok(outcomes.every((o) => isCode(o, 'ERR_STORE', /unexpected reply/)), String(outcomes));
    });
  });

  it('fails only the bad check of a batch; the others are evaluated and written, in order, at one now', async () => {
    const checks = [all(item('a', 1)), all(item('a', 1), item('b', -1)), atMost(item('c', 5)), all(item('a', 1))];
    const { reply, outcomes } = await run(checks);
    const bad = /n \(cost\) must be an integer >= 0/;
    assertReply(reply, NOW, [0, bad, bad, 0, NOW + T]);
    assert.deepEqual(await written(), [
      ['a', String(NOW + T), '20000'],
      ['c', String(NOW + 3 * T), '60000'],
      ['a', String(NOW + 2 * T), '40000'],
    ]);
    const expected = reference([checks[0] as Check, checks[2] as Check, checks[3] as Check], NOW);
    assert.deepEqual([outcomes[0], outcomes[2], outcomes[3]], expected);
    assert.ok(isCode(outcomes[1], 'ERR_STORE', bad), String(outcomes[1]));
  });

  it('evaluates the checks of a batch in order at one now (take 2, 2 denied, at most 5, peek)', async () => {
    const checks = [all(item('k', 2)), all(item('k', 2)), atMost(item('k', 5)), all(item('k', 0))];
    const { reply, outcomes } = await run(checks);
    assertReply(reply, NOW, [0, -(NOW + 2 * T) - 1, NOW + 2 * T, NOW + 3 * T]);
    assert.deepEqual(await written(), [
      ['k', String(NOW + 2 * T), '40000'],
      ['k', String(NOW + 3 * T), '60000'],
    ]);
    assert.deepEqual(outcomes, reference(checks, NOW));
    const figures = outcomes.map((o) => {
      const x = (o as CheckOutcome).items[0];
      return [o instanceof LimiterError ? 'error' : o.allowed, x?.granted, x?.remaining, x?.retryAfter, x?.resetAfter];
    });
    assert.deepEqual(figures, [
      [true, 2, 1, 0, 2 * T],
      [false, 0, 1, T, 2 * T], // 2 more: retry in T, 1 left
      [true, 1, 0, 0, 3 * T], // at most 5: gets the 1 left
      [true, 0, 0, 0, 3 * T], // peek: empty
    ]);
  });

  for (const corrupt of ['abc', '1.5', '9e99', '1e400', '', '-5']) {
    it(`reports a stored TAT of ${JSON.stringify(corrupt)} in every check that reads it, and leaves it alone`, async () => {
      await redis.shared.set('bad', corrupt);
      const checks = [all(item('bad', 1)), atMost(item('bad', 1)), all(item('ok1', 1), item('bad', 0)), all(item('ok2', 1))];
      const { reply, outcomes } = await run(checks);
      const bad = /stored TAT at bad is not an integer below 2\^53/;
      assertReply(reply, NOW, [bad, bad, bad, bad, 0], corrupt);
      assert.deepEqual(await written(), [['ok2', String(NOW + T), '20000']]);
      assert.equal(await redis.shared.get('bad'), corrupt);
      assert.equal(await redis.shared.pttl('bad'), -1, 'no expiry was set');
      assert.equal(await redis.shared.exists('ok1'), 0);
      assert.ok(outcomes.slice(0, 3).every((o) => isCode(o, 'ERR_STORE', bad)), String(outcomes));
      assert.deepEqual(outcomes[3], reference([checks[3] as Check], NOW)[0]);
    });
  }

  it('reports a key of another type in its own slot, leaving the other checks of the batch unaffected', async () => {
    await redis.shared.hset('h', 'field', 'value');
    const checks = [all(item('h', 1)), all(item('k', 1)), all(item('k', 1), item('h', 1))];
    const { reply, outcomes } = await run(checks);
    const bad = /stored TAT at h is unreadable: WRONGTYPE/;
    assertReply(reply, NOW, [bad, 0, bad, bad]);
    assert.deepEqual(await written(), [['k', String(NOW + T), '20000']]);
    assert.deepEqual(await redis.shared.hgetall('h'), { field: 'value' });
    assert.ok(isCode(outcomes[0], 'ERR_STORE', /WRONGTYPE/) && isCode(outcomes[2], 'ERR_STORE', /WRONGTYPE/), String(outcomes));
    assert.deepEqual(outcomes[1], reference([checks[1] as Check], NOW)[0]);
  });

  it('treats a stored TAT in the past as now', async () => {
    await redis.shared.set('old', '5');
    const checks = [all(item('old', 1))];
    const { reply, outcomes } = await run(checks);
    assertReply(reply, NOW, [5]);
    assert.deepEqual(await written(), [['old', String(NOW + T), '20000']]);
    assert.deepEqual(outcomes, reference(checks, NOW, new Map([['old', 5]])));
    assert.equal((outcomes[0] as CheckOutcome).items[0]?.remaining, 2);
  });

  it('applies duplicate keys of one compound check in order, reporting the stored TAT for each', async () => {
    const twice = [all(item('k', 2), item('k', 1))];
    const first = await run(twice);
    assertReply(first.reply, NOW, [0, 0]);
    assert.deepEqual(await written(), [
      ['k', String(NOW + 2 * T), '40000'],
      ['k', String(NOW + 3 * T), '60000'],
    ]);
    assert.deepEqual(first.outcomes, reference(twice, NOW));

    // The bucket is now empty: both slots report the stored TAT, negated.
    const again = await run(twice);
    assertReply(again.reply, NOW, [-(NOW + 3 * T) - 1, -(NOW + 3 * T) - 1]);
    assert.deepEqual(await written(), []);
    assert.deepEqual(again.outcomes, reference(twice, NOW, new Map([['k', NOW + 3 * T]])));

    // The first item passes alone, the second only after it: denied, nothing written.
    const overflow = [all(item('j', 2), item('j', 2))];
    const denied = await run(overflow);
    assertReply(denied.reply, NOW, [-1, -1]);
    assert.deepEqual(await written(), []);
    assert.equal(await redis.shared.exists('j'), 0);
    assert.deepEqual(denied.outcomes, reference(overflow, NOW));
  });

  it('writes nothing on denial (packed, "a", "m" with a passing item, n > B never)', async () => {
    await run([all(item('k', 3))]);
    assert.deepEqual(await written(), [['k', String(NOW + 3 * T), '60000']]);
    const full = NOW + 3 * T;
    const checks = [all(item('k', 1)), atMost(item('k', 1)), all(item('free', 1), item('k', 1)), all(item('fresh', 4))];
    const { reply, outcomes } = await run(checks);
    assertReply(reply, NOW, [-full - 1, -full - 1, -1, -full - 1, -1]);
    assert.deepEqual(await written(), []);
    assert.deepEqual((await redis.shared.keys('*')).sort(), ['k']);
    assert.deepEqual(outcomes, reference(checks, NOW, new Map([['k', full]])));
    assert.deepEqual(
      outcomes.map((o) => (o as CheckOutcome).items.map((x) => x.retryAfter)),
      [[T], [T], [0, T], [-1]],
      'retry in T; the free item of the compound check could pass; 4 > B never passes',
    );
  });

  describe('decodeBatch', () => {
    it('fails a check whose verdict disagrees with its own recomputation, keeping the others', async () => {
      const checks = [all(item('a', 1)), all(item('b', 1))];
      const { reply } = await run(checks);
      assertReply(reply, NOW, [0, 0]);
      const answer = reply as number[];
      // Denied although the bucket was full; allowed although it was empty.
      const flipped = decodeBatch([NOW, -1, 0], checks);
      assert.ok(isCode(flipped[0], 'ERR_STORE', /different verdict/), String(flipped[0]));
      assert.deepEqual(flipped[1], decodeBatch(answer, checks)[1]);
      const forged = decodeBatch([NOW, NOW + 3 * T, 0], checks);
      assert.ok(isCode(forged[0], 'ERR_STORE', /different verdict/), String(forged[0]));
    });

    it('fails a check whose entries disagree in sign or are not integers, keeping the others', () => {
      const checks = [all(item('a', 1), item('b', 1)), all(item('c', 1)), all(item('d', 1))];
      const out = decodeBatch([NOW, 0, -1, '5', 1.5], checks);
      assert.ok(isCode(out[0], 'ERR_STORE', /disagree/), String(out[0]));
      assert.ok(isCode(out[1], 'ERR_STORE', /unexpected reply/), String(out[1]));
      assert.ok(isCode(out[2], 'ERR_STORE', /unexpected reply/), String(out[2]));
      assert.deepEqual(decodeBatch([NOW, 0, 0, 0, 0], checks), reference(checks, NOW));
    });

    for (const [name, reply] of [
      ['null', null],
      ['a string', 'OK'],
      ['an empty array', []],
      ['too short', [NOW, 0]],
      ['too long', [NOW, 0, 0, 0]],
      ['now not a number', [String(NOW), 0, 0]],
    ] as [string, unknown][]) {
      it(`fails every check on a malformed reply (${name})`, () => {
        const out = decodeBatch(reply, [all(item('a', 1)), all(item('b', 1))]);
        assert.equal(out.length, 2);
        assert.ok(out.every((o) => isCode(o, 'ERR_STORE', /unexpected reply from the tollgate script/)), String(out));
      });
    }

    it('keeps KEYS and ARGV aligned around an "atMost" check with two items (answered ERR_INVALID_OPTION)', async () => {
      const checks = [atMost(item('a', 2), item('b', 1, T2, B2)), all(item('c', 1, T2, B2)), all(item('d', 1))];
      const { reply, outcomes } = await run(checks);
      assertReply(reply, NOW, [/n \(cost\)/, /n \(cost\)/, 0, 0]);
      assert.deepEqual(await written(), [
        ['c', String(NOW + T2), '1000'],
        ['d', String(NOW + T), '20000'],
      ]);
      assert.ok(isCode(outcomes[0], 'ERR_INVALID_OPTION', /exactly one item, got 2/), String(outcomes[0]));
      assert.deepEqual(outcomes.slice(1), reference(checks.slice(1), NOW));
    });
  });
});
