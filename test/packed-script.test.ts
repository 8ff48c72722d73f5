/**
 * The packed-only script (src/lua.ts, `packedOnly`): what the store runs when
 * every check of a call is a packed GCRA item. Against the full script on the
 * same batches (random keys, costs, limit tables, stored TATs, the clock moving
 * on), it answers the same reply and leaves the same values and expiries; any
 * other check header is unreadable to it; and the store picks it exactly for
 * calls of packed items.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { assembleScript, limitScript, packedScript } from '../src/lua.js';
import { encodeBatch, packedOnly } from '../src/redis-codec.js';
import type { AnyCheck } from '../src/store.js';
import { useRedis } from './helpers/redis-server.js';
import { scriptReply } from './helpers/script-reply.js';

const NOW = 1_750_000_000_000_000;

describe('packed-only script: assembly', () => {
  it('leaves out the registry and every kind but GCRA\'s inlined block', () => {
    const lean = packedScript.source;
    assert.equal(lean, assembleScript(undefined, { packedOnly: true }));
    assert.ok(lean.length < limitScript.source.length / 2, `${lean.length} vs ${limitScript.source.length} characters`);
    for (const gone of ['ITEMS', 'load_gcra', 'load_concurrency', 'compound']) assert.ok(!lean.includes(`${gone} =`) && !lean.includes(`function ${gone}`), `${gone} is left out`);
    // The dispatch loop reads LAZY; the lean script declares it empty and registers no loader.
    assert.ok(lean.includes('local LAZY = {}') && !lean.includes('LAZY.'), 'no loader is registered');
    assert.ok(lean.includes("redis.pcall('GET', key)"), 'the packed block is inlined');
    assert.notEqual(packedScript.sha, limitScript.sha);
  });

  it('packedOnly() holds exactly for calls of single-item "all" rate checks', () => {
    const rate = (cost: number): AnyCheck => ({ mode: 'all', items: [{ key: 'k', interval: 10, burst: 2, cost }] });
    assert.equal(packedOnly([rate(1), rate(0)]), true);
    assert.equal(packedOnly([rate(1), { mode: 'atMost', items: [{ key: 'k', interval: 10, burst: 2, cost: 1 }] }]), false);
    assert.equal(packedOnly([{ mode: 'all', items: [{ key: 'a', interval: 10, burst: 2, cost: 1 }, { key: 'b', interval: 10, burst: 2, cost: 1 }] }]), false);
    assert.equal(packedOnly([rate(Number.MAX_SAFE_INTEGER - 1)]), false, 'a cost too large to pack');
    for (const batch of [[rate(3), rate(1)], [rate(7)]]) {
      const { args } = encodeBatch(batch, 'p:', NOW);
      const body = args.slice(3 + 2 * Number(args[1]));
      assert.ok(body.every((v) => typeof v === 'number'), `every check is packed: ${JSON.stringify(body)}`);
    }
  });
});

describe('packed-only script against the full script', () => {
  const redis = useRedis();
  beforeEach(() => redis.shared.flushdb().then(() => undefined));
  const run = (script: typeof limitScript, keys: string[], args: (string | number)[]): Promise<unknown> => scriptReply(redis.shared, script, keys, args);
  const state = (keys: string[]) => Promise.all(keys.map(async (k) => [await redis.shared.get(k), await redis.shared.pttl(k)]));

  it('same replies, values and expiries on random batches of packed checks (fast-check)', async () => {
    const limits = fc.array(fc.record({ interval: fc.integer({ min: 1_000_000, max: 20_000_000 }), burst: fc.integer({ min: 1, max: 8 }) }), { minLength: 1, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(
        limits,
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 4 }), limit: fc.nat(2), cost: fc.integer({ min: 0, max: 10 }) }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 60_000_000 }), { minLength: 1, maxLength: 3 }),
        async (table, items, steps) => {
          await redis.shared.flushdb();
          // Intervals of 1 s or more: no key expires (on Redis's real clock) while the property runs.
          let now = NOW;
          for (const step of steps) {
            now += step;
            const checks: AnyCheck[] = items.map(({ key, limit, cost }) => {
              const l = table[limit % table.length] as { interval: number; burst: number };
              return { mode: 'all', items: [{ key: `k${key}`, interval: l.interval, burst: l.burst, cost }] };
            });
            assert.ok(packedOnly(checks));
            const full = encodeBatch(checks, 'full:', now);
            const lean = encodeBatch(checks, 'lean:', now);
            assert.deepEqual(lean.args, full.args);
            const fullReply = await run(limitScript, full.keys, full.args);
            const leanReply = await run(packedScript, lean.keys, lean.args);
            assert.deepEqual(leanReply, fullReply);
            const distinct = [...new Set(items.map((i) => `k${i.key}`))];
            const leanState = await state(distinct.map((k) => `lean:${k}`));
            const fullState = await state(distinct.map((k) => `full:${k}`));
            // PX is set from the call's `now`; PTTL counts from the real time each call ran at, and a
            // key of a tiny limit may already be gone from one of the two when it is read.
            leanState.forEach(([value, ttl], i) => {
              const [otherValue, otherTtl] = fullState[i] as [string | null, number];
              const left = (t: number) => (t < 0 ? 0 : t);
              if (value !== null && otherValue !== null) assert.equal(value, otherValue, `stored TAT of ${distinct[i]}`);
              assert.ok(Math.abs(left(Number(ttl)) - left(otherTtl)) <= 250, `expiry ${ttl} vs ${otherTtl} ms`);
            });
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('error replies match too: a bad limit, a bad packed value, a key of another type', async () => {
    await redis.shared.hset('full:h', 'f', 'v');
    await redis.shared.hset('lean:h', 'f', 'v');
    for (const [keys, args] of [
      [['k'], [NOW, 1, 0, 3, 1, 1]],
      [['k'], [NOW, 1, 10, 3, 1, 1.5]],
      [['k'], [NOW, 1, 10, 3, 1, -1]],
      [['h', 'k'], [NOW, 1, 10, 3, 2, 1, 1]],
      [['k'], ['soon', 1, 10, 3, 1, 1]],
    ] as [string[], (string | number)[]][]) {
      const full = await run(limitScript, keys.map((k) => `full:${k}`), args);
      const lean = await run(packedScript, keys.map((k) => `lean:${k}`), args);
      assert.deepEqual(String(lean).replaceAll('lean:', ''), String(full).replaceAll('full:', ''), JSON.stringify(args));
    }
  });

  it('any other check header is unreadable to it: every remaining slot fails, nothing is written', async () => {
    const reply = (await run(packedScript, ['p:a', 'p:b'], [NOW, 1, 10, 3, 2, 'm', 1, 1, 1, 1])) as unknown[];
    assert.ok(Array.isArray(reply), String(reply));
    assert.equal(reply.length, 3);
    for (const entry of reply.slice(1)) assert.match(String(entry), /is unreadable \(m\)/);
    assert.equal(await redis.shared.dbsize(), 0);
  });
});
