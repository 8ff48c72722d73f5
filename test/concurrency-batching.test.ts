/**
 * SPEC section 9 for concurrency items: acquires, releases and extends fired
 * all at once at a batching RedisStore (so they travel in shared script
 * calls, over two connections) give exactly the outcomes of the same ops run
 * one by one, in issue order, on a MemoryStore with the same fixed clock,
 * mixed with rate checks, checks of several lease items, and resets on the
 * same keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryStore, RedisStore, perMinute } from '../src/index.js';
import type { AnyItem } from '../src/store.js';
import { noopStoreHooks } from '../src/telemetry/hooks.js';
import { type StoreOp, assertBatchedEqualsOneByOne, itemsFor } from './helpers/batch-equivalence.js';
import { useRedis } from './helpers/redis-server.js';

const rate = itemsFor(new Map([['u', perMinute(3)]]));
const KEYS = ['c', 'd'];
/** Lease ids: a small pool, so releases and extends often find their lease (and sometimes do not). */
const IDS = ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'];

const leaseItemOn = (keys: fc.Arbitrary<string>): fc.Arbitrary<AnyItem> =>
  fc.oneof(
    fc.record({ key: keys, lease: fc.constantFrom(...IDS), max: fc.integer({ min: 1, max: 3 }) }).map(({ key, lease, max }): AnyItem => ({ kind: 'concurrency', op: 'acquire', key, max, ttl: 30_000_000, lease })),
    fc.record({ key: keys, lease: fc.constantFrom(...IDS) }).map(({ key, lease }): AnyItem => ({ kind: 'concurrency', op: 'release', key, lease })),
    fc.record({ key: keys, lease: fc.constantFrom(...IDS) }).map(({ key, lease }): AnyItem => ({ kind: 'concurrency', op: 'extend', key, lease, ttl: 40_000_000 })),
  );
const leaseItem = leaseItemOn(fc.constantFrom(...KEYS));
const opArb: fc.Arbitrary<StoreOp> = fc.oneof(
  { weight: 6, arbitrary: leaseItem.map((item): StoreOp => ({ kind: 'check', check: { mode: 'all', items: [item] } })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 2 }), fc.record({ key: fc.constantFrom(...KEYS), lease: fc.constantFrom(...IDS) }))
      .map(([cost, { key, lease }]): StoreOp => ({ kind: 'check', check: { mode: 'all', items: [rate('u', cost), { kind: 'concurrency', op: 'acquire', key, max: 2, ttl: 30_000_000, lease }] } })),
  },
  // Lease items on two keys in one check ("x" check of "c", "r", "e" items): all or nothing.
  {
    weight: 1,
    arbitrary: fc.tuple(leaseItemOn(fc.constant('c')), leaseItemOn(fc.constant('d'))).map((items): StoreOp => ({ kind: 'check', check: { mode: 'all', items } })),
  },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((key): StoreOp => ({ kind: 'reset', keys: [key] })) },
);

describe('batching concurrency items', () => {
  const redis = useRedis();

  it('batched outcomes equal one-by-one outcomes in issue order', async () => {
    let runs = 0;
    let compared = 0;
    const sizes: number[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 2, maxLength: 40, size: 'max' }), async (ops) => {
        runs += 1;
        const now = (): number => 1_750_000_000_000_000;
        const store = new RedisStore({ url: redis.url, prefix: `cb${runs}:`, now, pool: { size: 2, pipeline: 2 } });
        store.instrument({ ...noopStoreHooks, onBatch: (size) => (sizes.push(size), () => undefined) });
        try {
          compared += await assertBatchedEqualsOneByOne(store, new MemoryStore({ now }), ops);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 },
    );
    assert.ok(compared > 400, `only ${compared} ops compared`);
    assert.ok(sizes.some((n) => n > 4), 'script calls carried several checks');
  });
});
