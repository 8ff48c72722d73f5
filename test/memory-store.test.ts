/**
 * MemoryStore (issue 2 item 5): the in-process store is bounded (`maxKeys`
 * holds after every operation, the least recently written key goes first),
 * reclaims expired keys as writes go by (and treats them as absent before
 * that), never stores denials or peeks, and resets and clears keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Limiter, LimiterError, MemoryStore, perMinute } from '../src/index.js';
import { resolveLimit } from '../src/limits.js';

const T0 = 1_750_000_000_000_000;
const L = perMinute(3); // T = 20 s, tau = 60 s
const WIDE = perMinute(1000); // room for many writes on one key

describe('MemoryStore', () => {
  it('never holds more than maxKeys keys (random writes, compound checks, time steps)', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.record({
            keys: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 3 }),
            dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 90_000_000 })),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        async (maxKeys, ops) => {
          let t = T0;
          const store = new MemoryStore({ now: () => t, maxKeys });
          const limiter = new Limiter({ store });
          for (const op of ops) {
            t += op.dt;
            await limiter.allowAll(op.keys.map((k) => ({ key: `k${k}`, limit: L })));
            assert.ok(store.size <= maxKeys, `size ${store.size} > maxKeys ${maxKeys}`);
            checked += 1;
          }
        },
      ),
      { numRuns: 200 },
    );
    assert.ok(checked > 1000, `only ${checked} operations checked`);
  });

  it('evicts the least recently written key when full', async () => {
    const t = T0;
    const store = new MemoryStore({ now: () => t, maxKeys: 2 });
    const limiter = new Limiter({ store });
    await limiter.allow('a', L);
    await limiter.allow('b', L);
    await limiter.allow('c', L); // full: 'a' (oldest write) goes
    assert.equal(store.size, 2);
    assert.equal((await limiter.peek('a', L)).remaining, 3, 'a was evicted: its bucket is full again');
    assert.equal((await limiter.peek('b', L)).remaining, 2);
    assert.equal((await limiter.peek('c', L)).remaining, 2);
    await limiter.allow('b', L); // b is now the most recent write
    await limiter.allow('d', L); // full: 'c' goes, not 'b'
    assert.equal((await limiter.peek('b', L)).remaining, 1);
    assert.equal((await limiter.peek('c', L)).remaining, 3);
    assert.equal((await limiter.peek('d', L)).remaining, 2);
  });

  it('a compound check writing more keys than maxKeys still respects the bound', async () => {
    const store = new MemoryStore({ now: () => T0, maxKeys: 2 });
    const result = await new Limiter({ store }).allowAll(['x', 'y', 'z'].map((key) => ({ key, limit: L })));
    assert.equal(result.allowed, true);
    assert.equal(store.size, 2);
  });

  it('treats expired keys as absent and reclaims them as writes go by', async () => {
    let t = T0;
    const store = new MemoryStore({ now: () => t, maxKeys: 100 });
    const limiter = new Limiter({ store });
    for (let i = 0; i < 10; i += 1) await limiter.allow(`old${i}`, L); // TAT = T0 + 20 s
    assert.equal(store.size, 10);

    t = T0 + 20_000_000; // every TAT has been reached: the buckets are full again
    assert.equal((await limiter.peek('old0', L)).remaining, 3);
    assert.equal((await limiter.peek('old0', L)).resetAfter, 0);
    assert.equal(store.size, 10, 'peeks do not reclaim');

    const sizes: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      await limiter.allow('fresh', WIDE);
      sizes.push(store.size);
    }
    // Each write inspects the oldest entries and drops the expired ones.
    assert.ok(
      sizes.every((s, i) => i === 0 || s <= (sizes[i - 1] as number)),
      `sizes shrink: ${sizes.join(', ')}`,
    );
    assert.equal(store.size, 1, `only 'fresh' is left (sizes ${sizes.join(', ')})`);
  });

  it('reclaims a key rewritten after expiry as one entry', async () => {
    let t = T0;
    const store = new MemoryStore({ now: () => t });
    const limiter = new Limiter({ store });
    await limiter.allow('k', L);
    t += 90_000_000;
    const again = await limiter.allow('k', L);
    assert.deepEqual([again.remaining, again.resetAfter], [2, 20_000]);
    assert.equal(store.size, 1);
  });

  it('stores nothing for denials, peeks and cost 0', async () => {
    const store = new MemoryStore({ now: () => T0 });
    const limiter = new Limiter({ store });
    for (let i = 0; i < 50; i += 1) {
      await limiter.peek(`p${i}`, L);
      await limiter.allow(`z${i}`, L, { cost: 0 });
      await limiter.allow(`n${i}`, L, { cost: 4 }); // above the burst: denied
    }
    assert.equal(store.size, 0);
  });

  it('reset deletes keys, clear drops all, close resolves', async () => {
    const store = new MemoryStore({ now: () => T0 });
    const limiter = new Limiter({ store });
    await limiter.allow('a', L, { cost: 3 });
    await limiter.allow('b', L);
    await limiter.allow('c', L);
    await limiter.reset('a');
    assert.equal(store.size, 2);
    assert.equal((await limiter.allow('a', L)).remaining, 2);
    await limiter.reset(['b', 'never-written']);
    assert.equal(store.size, 2);
    store.clear();
    assert.equal(store.size, 0);
    assert.equal((await limiter.peek('c', L)).remaining, 3);
    await store.close();
  });

  it('evaluateSync answers exactly like evaluate', async () => {
    const a = new MemoryStore({ now: () => T0 });
    const b = new MemoryStore({ now: () => T0 });
    const r = resolveLimit(L);
    for (const cost of [1, 2, 1, 3, 0]) {
      const check = { mode: 'all' as const, items: [{ key: 'k', interval: r.interval, burst: r.burst, cost }] };
      assert.deepEqual(b.evaluateSync(check), await a.evaluate(check));
    }
  });

  it('holds 100,000 keys by default and no more', async () => {
    const store = new MemoryStore({ now: () => T0 });
    const limiter = new Limiter({ store, telemetry: false });
    for (let i = 0; i < 100_001; i += 1) await limiter.allow(`k${i}`, L);
    assert.equal(store.size, 100_000);
    assert.equal((await limiter.peek('k0', L)).remaining, 3, 'the oldest key was evicted');
    assert.equal((await limiter.peek('k1', L)).remaining, 2);
  });
});

describe('MemoryStore check shape', () => {
  it('rejects an atMost check with more than one item, as RedisStore does', async () => {
    const store = new MemoryStore({ now: () => 1_000_000 });
    const item = { key: 'k', interval: 1000, burst: 2, cost: 1 };
    await assert.rejects(store.evaluate({ mode: 'atMost', items: [item, { ...item, key: 'j' }] }), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_OPTION');
    assert.equal(store.size, 0);
  });
});
