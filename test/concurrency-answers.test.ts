/**
 * Known-answer tests for concurrency limits (issue 13): the hand-computed
 * table in test/cases/concurrency-answers.ts, run against both stores with a
 * fixed client clock. Both must give exactly the tabled results; against
 * Redis the test also reads each key's sorted set after every step (the
 * expiry of every lease held, in order, or no key at all).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CompoundResult, type Lease, Limiter, LimiterError, MemoryStore, RedisStore, type Store } from '../src/index.js';
import { type AnyLimit } from '../src/concurrency.js';
import { LEASE_CASES, type LeaseCase, type LeaseStep } from './cases/concurrency-answers.js';
import { T0 } from './cases/known-answers.js';
import { useRedis } from './helpers/redis-server.js';

const PREFIX = 'cka:';

/** Runs one step; returns what it answered, in the form the table expects. */
async function runStep(limiter: Limiter, step: LeaseStep, named: Map<string, Lease | CompoundResult<AnyLimit>>): Promise<unknown> {
  const op = step.op;
  switch (op.kind) {
    case 'acquire': {
      const lease = await limiter.acquire(op.key, op.limit);
      if (op.as !== undefined) named.set(op.as, lease);
      return { allowed: lease.allowed, inFlight: lease.inFlight, remaining: lease.remaining, retryAfter: lease.retryAfter, expiresAt: lease.expiresAt };
    }
    case 'release':
      return (named.get(op.lease) as Lease).release();
    case 'extend':
      try {
        return await (named.get(op.lease) as Lease).extend(op.ttl);
      } catch (error) {
        if (error instanceof LimiterError) return error.code;
        throw error;
      }
    case 'allowAll': {
      const result = await limiter.allowAll(op.items);
      if (op.as !== undefined) named.set(op.as, result);
      return result;
    }
    case 'releaseAll':
      return (named.get(op.result) as CompoundResult<AnyLimit>).release();
  }
}

function label(c: LeaseCase, i: number): string {
  const step = c.steps[i] as LeaseStep;
  return `${c.name}, step ${i + 1} (${step.op.kind} at +${step.at} µs)`;
}

async function runCase(c: LeaseCase, store: Store, setClock: (t: number) => void, after?: (step: LeaseStep, what: string) => Promise<void>): Promise<void> {
  const limiter = new Limiter({ store });
  const named = new Map<string, Lease | CompoundResult<AnyLimit>>();
  for (const [i, step] of c.steps.entries()) {
    setClock(T0 + step.at);
    assert.deepEqual(await runStep(limiter, step, named), step.expect, label(c, i));
    await after?.(step, label(c, i));
  }
}

describe('concurrency known answers: MemoryStore', () => {
  for (const c of LEASE_CASES) {
    it(c.name, async () => {
      let t = T0;
      await runCase(c, new MemoryStore({ now: () => t }), (now) => (t = now));
    });
  }
});

describe('concurrency known answers: RedisStore', () => {
  const redis = useRedis();
  for (const c of LEASE_CASES) {
    it(c.name, async () => {
      await redis.shared.flushdb();
      let t = T0;
      const store = new RedisStore({ client: redis.shared, prefix: PREFIX, now: () => t });
      try {
        await runCase(c, store, (now) => (t = now), async (step, what) => {
          for (const [key, expiries] of Object.entries(step.leases ?? {})) {
            const scores = (await redis.shared.zrange(PREFIX + key, 0, -1, 'WITHSCORES')).filter((_, j) => j % 2 === 1).map((s) => Number(s) - T0);
            assert.deepEqual(scores, expiries, `${what}: leases of ${key}`);
            if (expiries.length === 0) assert.equal(await redis.shared.exists(PREFIX + key), 0, `${what}: ${key} must not exist`);
          }
        });
      } finally {
        await store.close();
      }
    });
  }
});
