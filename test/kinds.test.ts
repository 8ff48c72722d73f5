/**
 * The kinds mechanism (src/lua.ts, src/kinds.ts, lua/prologue.lua): the
 * script is assembled from the prologue, one file per kind and the dispatch
 * loop (an inline block must be defined and used exactly once); an "x"
 * check of tagged items evaluates exactly like GCRA's own "m" encoding (same
 * reply, same writes, all or nothing, repeated keys, errors in the check's
 * slots only), and an unreadable "x" check fails every later slot.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { KIND_SOURCES, assembleScript, limitScript, luaSource } from '../src/lua.js';
import { useRedis } from './helpers/redis-server.js';

const NOW = 1_750_000_000_000_000;
const T = 20_000_000;
const B = 3;

describe('script assembly', () => {
  it('joins the prologue, every kind and the dispatch loop, with the inline block in the loop', () => {
    const script = assembleScript();
    assert.equal(limitScript.source, script);
    for (const part of ['prologue.lua', ...KIND_SOURCES]) {
      const firstLine = luaSource(part).split('\n')[0] as string;
      assert.ok(script.includes(firstLine), `${part} is part of the script`);
    }
    assert.ok(!script.includes('--@inline'), 'every inline marker was replaced');
    assert.ok(!script.includes('--[==[inline:'), 'no inline block is left as a comment');
    assert.ok(script.indexOf('local LIMIT') < script.indexOf('ITEMS.g') && script.indexOf('ITEMS.g') < script.indexOf('for _ = 1, C do'), 'prologue, kinds, loop');
  });

  it('refuses a loop that inlines a block no kind defines, and a block nobody inlines', () => {
    const sources = (overrides: Record<string, string>) => (name: string) => overrides[name] ?? luaSource(name);
    assert.throws(() => assembleScript(sources({ 'dispatch.lua': '--@inline nothing\n' })), /block "nothing", which no kind defines/);
    assert.throws(() => assembleScript(sources({ 'dispatch.lua': 'return reply\n' })), /inline blocks never used: numeric/);
  });
});

describe('"x" checks of tagged items', () => {
  const redis = useRedis();
  const call = async (keys: string[], args: (string | number)[]): Promise<unknown> => {
    try {
      return await limitScript.run(redis.shared, keys, args);
    } catch (error) {
      return error;
    }
  };
  /** Runs the same items as "m" and as "x" on fresh keys; returns both replies and the values stored after each. */
  async function both(pairs: [number, number][], keys: string[]): Promise<{ m: unknown; x: unknown; mState: unknown; xState: unknown }> {
    const header: (string | number)[] = [NOW, 2, T, B, 1_000_000, 10, 1];
    const m = await call(keys.map((k) => `m:${k}`), [...header, 'm', pairs.length, ...pairs.flat()]);
    const mState = await Promise.all(keys.map((k) => redis.shared.get(`m:${k}`)));
    const x = await call(keys.map((k) => `x:${k}`), [...header, 'x', pairs.length, ...pairs.flatMap(([i, n]) => ['g', i, n])]);
    const xState = await Promise.all(keys.map((k) => redis.shared.get(`x:${k}`)));
    return { m, x, mState, xState };
  }
  beforeEach(() => redis.shared.flushdb().then(() => undefined));

  it('answers and writes exactly as "m": taking, repeated keys, denial writing nothing, peeks', async () => {
    for (const [pairs, keys] of [
      [[[1, 1], [2, 3]], ['a', 'b']],
      [[[1, 2], [1, 1]], ['k', 'k']], // the same key twice: 3 of a burst of 3
      [[[1, 2], [1, 2]], ['j', 'j']], // 4 of 3: denied, nothing written
      [[[1, 0], [2, 11]], ['p', 'q']], // a peek and a cost above the burst
    ] as [[number, number][], string[]][]) {
      const r = await both(pairs, keys);
      assert.ok(Array.isArray(r.m), String(r.m));
      assert.deepEqual(r.x, r.m, JSON.stringify(pairs));
      assert.deepEqual(r.xState, r.mState, JSON.stringify(pairs));
    }
  });

  it('fails only its own slots on a bad item (index, cost), like "m"', async () => {
    for (const pairs of [
      [[1, 1], [3, 1]],
      [[1, 1], [1, -1]],
    ] as [number, number][][]) {
      const r = await both(pairs, ['a', 'b']);
      const [mNow, ...mSlots] = r.m as unknown[];
      const [xNow, ...xSlots] = r.x as unknown[];
      assert.equal(xNow, mNow);
      assert.deepEqual(xSlots.map((e) => (e as Error).message), mSlots.map((e) => (e as Error).message));
      assert.deepEqual(r.xState, [null, null]);
    }
  });

  for (const [name, check] of [
    ['an unknown tag', ['x', 1, 'zz', 1, 1]],
    ['a missing item', ['x', 2, 'g', 1, 1]],
    ['an item without its arguments', ['x', 1, 'g', 1]],
    ['item count 0', ['x', 0, 'g', 1, 1]],
  ] as [string, (string | number)[]][]) {
    it(`is unreadable with ${name}: every later slot fails, earlier checks stand`, async () => {
      const reply = await call(['a', 'b', 'c'], [NOW, 1, T, B, 2, 1, ...check]);
      assert.ok(Array.isArray(reply));
      assert.equal(reply[1], 0);
      assert.match((reply[2] as Error).message, /check at ARGV\[7\] is unreadable \(x\)/);
      assert.match((reply[3] as Error).message, /check at ARGV\[7\] is unreadable \(x\)/);
      assert.equal(await redis.shared.get('a'), String(NOW + T));
      assert.deepEqual(await redis.shared.exists('b', 'c'), 0);
    });
  }

  it('a lease item on a key of another type fails its own check only, and writes nothing', async () => {
    await redis.shared.set('s', 'not a lease set');
    // Release ("x" with an "r" item), extend ("E") and a compound extend ("e"), each beside a rate check on "a".
    for (const check of [['x', 1, 'r', 'lease-1'], ['E', 'lease-1', 1_000_000], ['x', 1, 'e', 'lease-1', 1_000_000]] as (string | number)[][]) {
      await redis.shared.del('a');
      const reply = await call(['a', 's'], [NOW, 1, T, B, 2, 1, ...check]);
      assert.ok(Array.isArray(reply), String(reply));
      assert.equal(reply[1], 0, 'the rate check before it stands');
      assert.match((reply[2] as Error).message, /leases at s are unreadable/);
      assert.equal(await redis.shared.get('s'), 'not a lease set');
      assert.equal(await redis.shared.get('a'), String(NOW + T));
    }
  });
});
