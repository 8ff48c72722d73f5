/**
 * Differential property test for concurrency limits (issue 13): random
 * sequences of acquires, releases, extends (of leases taken earlier, live or
 * not), checks mixing rate and concurrency items (repeated keys included),
 * resets and clock steps give identical raw outcomes from RedisStore (deny
 * cache off, and on) and MemoryStore sharing one fake clock: verdicts,
 * leases in flight, retryAfter, expiries, and the count of leases found
 * expired unreleased. Lease ids are fixed per step, so both stores see the
 * same ones.
 *
 * A run's fake time stays under 19 s while every ttl (of acquires and
 * extends) is at least 10 s, so no key reaches its keep time (one ttl past its newest lease): Redis expires
 * keys in real time, which a fake clock cannot move.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryStore, RedisStore, perMinute, resolveLimit } from '../src/index.js';
import type { AnyCheck, AnyItem, AnyOutcome, Store } from '../src/store.js';
import { useRedis } from './helpers/redis-server.js';

/** (max, ttl µs) pairs: ttls of 10, 12.5 and 15 s. */
const SLOTS = [
  { max: 1, ttl: 10_000_000 },
  { max: 2, ttl: 12_500_000 },
  { max: 3, ttl: 15_000_000 },
] as const;
const RATE = resolveLimit(perMinute(2));
const LEASE_KEYS = ['c', 'd'] as const;
const RATE_KEYS = ['u', 'v'] as const;
const MAX_FAKE_TIME = 19_000_000;

type Op =
  | { kind: 'acquire'; key: string; slot: number }
  | { kind: 'release'; pick: number }
  | { kind: 'extend'; pick: number; ttl: number }
  | { kind: 'mix'; items: ({ type: 'rate'; key: string; cost: number } | { type: 'lease'; key: string; slot: number })[] }
  | { kind: 'reset'; key: string };

const slotArb = fc.integer({ min: 0, max: SLOTS.length - 1 });
const leaseKeyArb = fc.constantFrom(...LEASE_KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('acquire' as const), key: leaseKeyArb, slot: slotArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extend' as const), pick: fc.nat(50), ttl: fc.constantFrom(10_000_000, 12_000_000) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('mix' as const),
      items: fc.array(
        fc.oneof(
          fc.record({ type: fc.constant('rate' as const), key: fc.constantFrom(...RATE_KEYS), cost: fc.integer({ min: 0, max: 2 }) }),
          fc.record({ type: fc.constant('lease' as const), key: leaseKeyArb, slot: slotArb }),
        ),
        { minLength: 2, maxLength: 3 },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), key: fc.constantFrom(...LEASE_KEYS, ...RATE_KEYS) }) },
);
const dtArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 0, max: 3_000_000 }), fc.integer({ min: 4_000_000, max: 6_000_000 }));
const stepArb = fc.record({ dt: dtArb, op: opArb });

/** What a taken lease is, for later releases and extends. */
interface Taken {
  readonly key: string;
  readonly lease: string;
}

/** Builds the check of one step (lease ids from the step number); undefined for a reset or when there is nothing to pick. */
function checkOf(op: Op, step: number, taken: readonly Taken[]): AnyCheck | undefined {
  const acquire = (key: string, slot: number, j: number): AnyItem => ({ kind: 'concurrency', op: 'acquire', key, ...(SLOTS[slot] as { max: number; ttl: number }), lease: `l${step}.${j}` });
  switch (op.kind) {
    case 'acquire':
      return { mode: 'all', items: [acquire(op.key, op.slot, 0)] };
    case 'release':
    case 'extend': {
      const t = taken[op.pick % Math.max(1, taken.length)];
      if (t === undefined) return undefined;
      const item: AnyItem = op.kind === 'release' ? { kind: 'concurrency', op: 'release', ...t } : { kind: 'concurrency', op: 'extend', ...t, ttl: op.ttl };
      return { mode: 'all', items: [item] };
    }
    case 'mix':
      return {
        mode: 'all',
        items: op.items.map((i, j): AnyItem => (i.type === 'rate' ? { key: i.key, interval: RATE.interval, burst: RATE.burst, cost: i.cost } : acquire(i.key, i.slot, j))),
      };
    case 'reset':
      return undefined;
  }
}

async function fire(store: Store, op: Op, check: AnyCheck | undefined): Promise<unknown> {
  if (op.kind === 'reset') return store.reset([op.key]).then(() => 'reset');
  if (check === undefined) return 'nothing to pick';
  const { source: _source, ...rest }: AnyOutcome = await store.evaluate(check);
  return rest;
}

describe('differential: concurrency limits, RedisStore and MemoryStore agree', () => {
  const redis = useRedis();
  let runs = 0;
  const seen = { granted: 0, denied: 0, released: 0, notHeld: 0, extended: 0, expired: 0, mixDenied: 0 };

  it('gives identical raw outcomes on random sequences', { timeout: 120_000 }, async () => {
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_600_000_000_000_000, max: 1_900_000_000_000_000 }), fc.array(stepArb, { minLength: 1, maxLength: 30, size: 'max' }), async (start, steps) => {
        runs += 1;
        let t = start;
        const now = (): number => t;
        const stores: Store[] = [
          new MemoryStore({ now }),
          new RedisStore({ client: redis.shared, prefix: `dc:${runs}:`, now, denyCache: false }),
          new RedisStore({ client: redis.shared, prefix: `dc-cached:${runs}:`, now }),
        ];
        const taken: Taken[] = [];
        try {
          for (const [i, step] of steps.entries()) {
            t = Math.min(t + step.dt, start + MAX_FAKE_TIME);
            const check = checkOf(step.op, i, taken);
            const [memory, ...redisAnswers] = await Promise.all(stores.map((s) => fire(s, step.op, check)));
            for (const answer of redisAnswers) assert.deepEqual(answer, memory, `step ${i} (${JSON.stringify(step.op)}): Redis and memory differ`);
            if (typeof memory !== 'object' || memory === null || check === undefined) continue;
            const outcome = memory as Omit<AnyOutcome, 'source'>;
            outcome.items.forEach((o, j) => {
              const item = check.items[j] as AnyItem;
              if (!('inFlight' in o) || item.kind !== 'concurrency') return;
              seen.expired += o.expired;
              if (item.op === 'acquire') {
                if (o.granted === 1 && outcome.allowed) taken.push({ key: item.key, lease: item.lease });
                if (o.granted === 1 && outcome.allowed) seen.granted += 1;
                else if (!o.allowed) seen.denied += 1;
              } else if (item.op === 'release') {
                if (o.allowed) seen.released += 1;
                else seen.notHeld += 1;
              } else if (o.allowed) seen.extended += 1;
            });
            if (step.op.kind === 'mix' && !outcome.allowed) seen.mixDenied += 1;
          }
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
      }),
      { numRuns: 150 },
    );
    assert.ok(Object.values(seen).every((n) => n > 20), `the generators must reach every branch: ${JSON.stringify(seen)}`);
    assert.ok(performance.now() - started < 60_000, 'the property run must stay well under 60 s');
  });
});
