/**
 * Calendar quotas and settlement (issue 14) on both stores: the hand-computed
 * cases of test/cases/settlement.ts run unchanged against a MemoryStore and
 * a RedisStore with the same fixed client clock; what Redis stores for a
 * quota (one key per quota unit, "<window start>:<count>", living until the
 * window ends); a reset clears quotas too; input validation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AdjustResult, type AnyLimit, Limiter, LimiterError, MemoryStore, RedisStore, type Reservation, concurrency, perSecond, quota } from '../src/index.js';
import { T0 } from './cases/known-answers.js';
import { DAILY_5, DAY_END, SETTLE_CASES, type SettleCase, type SettleStep } from './cases/settlement.js';
import { useRedis } from './helpers/redis-server.js';

async function runStep(limiter: Limiter, step: SettleStep, reservations: Map<string, Reservation<AnyLimit>>): Promise<unknown> {
  const op = step.op;
  switch (op.kind) {
    case 'allow':
      return limiter.allow(op.key, op.limit, op.cost === undefined ? undefined : { cost: op.cost });
    case 'allowAll': {
      const r = await limiter.allowAll(op.items);
      if (op.as) reservations.set(op.as, r);
      return r;
    }
    case 'reserve': {
      const r = await limiter.reserve(op.key, op.limit, { cost: op.cost });
      reservations.set(op.as, r);
      return r;
    }
    case 'settle': {
      const r = reservations.get(op.name);
      assert.ok(r, `reservation ${op.name}`);
      return r.settle(op.actual);
    }
    case 'refund':
      return limiter.refund(op.key, op.limit, op.n);
    case 'penalize':
      return limiter.penalize(op.key, op.limit, op.n);
  }
}

async function runCase(c: SettleCase, limiter: Limiter, setTime: (t: number) => void): Promise<void> {
  const reservations = new Map<string, Reservation<AnyLimit>>();
  for (const [i, step] of c.steps.entries()) {
    setTime(T0 + step.at);
    const label = `${c.name}, step ${i + 1} (${step.op.kind} at +${step.at} µs)`;
    if (step.error !== undefined) {
      await assert.rejects(runStep(limiter, step, reservations), (e: unknown) => e instanceof LimiterError && e.code === step.error, label);
    } else {
      assert.deepEqual(await runStep(limiter, step, reservations), step.expect, label);
    }
  }
}

describe('settlement known answers: MemoryStore', () => {
  for (const c of SETTLE_CASES) {
    it(c.name, async () => {
      let t = T0;
      await runCase(c, new Limiter({ store: new MemoryStore({ now: () => t }) }), (v) => (t = v));
    });
  }
});

describe('settlement known answers: RedisStore', () => {
  const redis = useRedis();
  let n = 0;
  for (const c of SETTLE_CASES) {
    it(c.name, async () => {
      let t = T0;
      const store = new RedisStore({ client: redis.shared, prefix: `set${(n += 1)}:`, now: () => t });
      try {
        await runCase(c, new Limiter({ store }), (v) => (t = v));
      } finally {
        await store.close();
      }
    });
  }

  it('a quota count is one key per quota unit, "<window start µs>:<count>", living until a minute after its window ends', async () => {
    const t = T0;
    const store = new RedisStore({ client: redis.shared, prefix: 'qk:', now: () => t });
    const limiter = new Limiter({ store });
    await limiter.allow('{t1}', DAILY_5, { cost: 2 });
    await limiter.allow('{t1}', perSecond(5));
    const start = T0 + DAY_END - 86_400_000_000; // 2025-06-15T00:00Z
    assert.equal(await redis.shared.get('qk:{t1}|quota:day'), `${start}:2`);
    const pttl = await redis.shared.pttl('qk:{t1}|quota:day');
    // PX = ceil((window end - now) / 1000) ms + 1 min = 32,060,000 ms; a few real ms may pass before PTTL reads it.
    assert.ok(pttl <= 32_060_000 && pttl > 32_060_000 - 2000, `PTTL ${pttl}`);
    assert.equal(Number(await redis.shared.get('qk:{t1}')) - T0, 200_000, 'the rate limit keeps its own key');
    // A settlement that gives everything back deletes the count.
    await limiter.refund('{t1}', DAILY_5, 2);
    assert.equal(await redis.shared.exists('qk:{t1}|quota:day'), 0);
    await limiter.allow('{t1}', DAILY_5, { cost: 1 });
    await limiter.reset('{t1}');
    assert.deepEqual(await redis.shared.keys('qk:*'), [], 'reset clears the rate key and every quota key');
    await store.close();
  });
});

describe('quotas and settlement: validation and edge cases', () => {
  const limiter = new Limiter();
  const q = quota(10, 'week', { timeZone: 'Asia/Tokyo' });

  it('rejects bad costs and amounts before any store call, naming the field', async () => {
    const code = (c: string, pattern: RegExp) => (e: unknown) => e instanceof LimiterError && e.code === c && pattern.test(e.message);
    await assert.rejects(limiter.allow('k', q, { cost: -1 }), code('ERR_INVALID_COST', /cost must be an integer >= 0, got -1/));
    await assert.rejects(limiter.allow('k', q, { cost: 1.5 }), code('ERR_INVALID_COST', /cost .* got 1\.5/));
    await assert.rejects(limiter.allowAll([{ key: 'k', limit: q, cost: Number.NaN }]), code('ERR_INVALID_COST', /items\[0\]\.cost .* got NaN/));
    await assert.rejects(limiter.refund('k', q, -2), code('ERR_INVALID_COST', /n must be an integer >= 0, got -2/));
    await assert.rejects(limiter.penalize('k', perSecond(3), 0.5), code('ERR_INVALID_COST', /n must be an integer >= 0, got 0\.5/));
    await assert.rejects(limiter.refund('', q, 1), code('ERR_INVALID_KEY', /key must be/));
    await assert.rejects(limiter.allow('k', { kind: 'quota', amount: 0, unit: 'day' }), code('ERR_INVALID_LIMIT', /quota\.amount must be an integer >= 1, got 0/));
    await assert.rejects(limiter.allowAtMost('k', q as never, 3), code('ERR_INVALID_LIMIT', /allowAtMost\(\) takes a rate limit/));
    const r = await limiter.reserve('k', q, { cost: 2 });
    await assert.rejects(r.settle(-1), code('ERR_INVALID_COST', /settle actual must be an integer >= 0, got -1/));
    await assert.rejects(r.settle('2' as never), code('ERR_INVALID_COST', /settle\(actual\) takes an integer >= 0 or an array/));
    await assert.rejects(r.settle([1, 2]), code('ERR_INVALID_COST', /one actual cost per item \(1\), got an array of 2/));
    // A rejected settle did not use up the reservation.
    const done: AdjustResult = await r.settle(2);
    assert.equal(done.refunded + done.charged, 0);
    await assert.rejects(r.settle(2), code('ERR_SETTLE', /already settled/));
  });

  it('a compound reservation with a concurrency item settles its rate and quota items only; release() still works', async () => {
    const tokens = perSecond(100);
    const slots = concurrency(1, { ttl: 60_000 });
    const r = await limiter.allowAll([
      { key: 'c1', limit: tokens, cost: 30 },
      { key: 'c1', limit: slots },
      { key: 'c1', limit: q, cost: 4 },
    ]);
    assert.equal(r.allowed, true);
    const s = await r.settle([10, 0, 1]); // the lease's entry is ignored
    assert.deepEqual(s.items?.map((i) => [i.key, i.refunded]), [['c1', 20], ['c1', 3]]);
    await r.release();
    assert.equal((await limiter.acquire('c1', slots)).allowed, true, 'the lease was given back');
  });

  it('settle is not an enumerable field: results compare and spread as plain data', async () => {
    const r = await limiter.reserve('k2', q, { cost: 1 });
    assert.equal(typeof r.settle, 'function');
    assert.deepEqual(Object.keys(r), ['allowed', 'granted', 'remaining', 'retryAfter', 'resetAfter', 'limit']);
    assert.equal('settle' in { ...r }, false);
  });

  it('wait() on a quota: a cost above the amount is never allowed', async () => {
    await assert.rejects(limiter.wait('k3', q, { cost: 11 }), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_WAIT_EXCEEDED');
    await assert.rejects(limiter.wait('k3', q, { cost: 10, maxWait: 0 }).then(() => limiter.wait('k3', q, { cost: 1, maxWait: 10 })), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_WAIT_EXCEEDED');
  });
});
