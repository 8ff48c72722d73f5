/**
 * Fuzz over the public API (issue 10): fast-check sequences of allow,
 * allowAtMost, peek, allowAll, wait and reset with keys of every kind
 * (unicode, lone surrogates, braces, NUL, newlines, boundary lengths,
 * non-strings), limits and costs at and past every bound, and options of
 * every type, run on a Limiter over a RedisStore and one over a MemoryStore
 * on the same fixed clock. Every call yields a valid result or a
 * LimiterError (nothing else is ever thrown), both stores give the same
 * verdict (or the same error code), and afterwards every key in Redis holds
 * an integer TAT with a positive TTL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { type Limit, type LimitResult, Limiter, LimiterError, MAX_KEY_LENGTH, MemoryStore, RedisStore } from '../src/index.js';
import { useRedis } from './helpers/redis-server.js';

const NOW = 1_760_000_000_000_000;

/** Keys of every kind; most are valid so that state builds up between calls. */
const keyArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', '{t}c', 'd\u0000e', 'f\ng', '\u{1F600}', '\uFFFD', 'é', 'e\u0301') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('ls:\uD800', 'ls:\uDBFF', '\uDC00', 'x\uD83D') },
  { weight: 1, arbitrary: fc.constantFrom('k'.repeat(MAX_KEY_LENGTH), 'k'.repeat(MAX_KEY_LENGTH + 1), '\u{1F600}'.repeat(MAX_KEY_LENGTH / 2), '') },
  { weight: 1, arbitrary: fc.constantFrom(5, null, undefined, {}, [], true, Symbol.for('k')) },
);

/**
 * Limits at and past every bound. The valid ones have an emission interval of
 * at least a minute, so no key expires in Redis (real time) while the fixed
 * clock keeps it alive in-process during a run.
 */
const limitArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<Limit>({ rate: 1, period: 60_000 }, { rate: 3, period: 3_600_000, burst: 5 }, { rate: 1000, period: 86_400_000, burst: 2 }, { rate: 2, period: 2 ** 40, burst: 1 }, { rate: 1, period: 86_400_000, burst: 100_000 }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        rate: fc.constantFrom(0, -1, 1.5, NaN, Infinity, 2 ** 53, '3', 1),
        period: fc.constantFrom(0, -1, 0.0001, NaN, Infinity, 2 ** 52 / 1000, '1000', 60_000),
        burst: fc.constantFrom(undefined, 0, 1.5, -3, 1e12, 2 ** 53, 1),
      },
      { requiredKeys: ['rate', 'period'] },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'perSecond(3)', 7, []) },
);

const costArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(0, 1, 2, 5, 6) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER, 100_001, '1', null) },
);

const optionsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ cost: costArb }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, 5, 'x', [], true, {}) },
);

type Op =
  | { kind: 'allow'; key: unknown; limit: unknown; options: unknown }
  | { kind: 'allowAtMost'; key: unknown; limit: unknown; n: unknown }
  | { kind: 'peek'; key: unknown; limit: unknown }
  | { kind: 'allowAll'; items: unknown }
  | { kind: 'wait'; key: unknown; limit: unknown; options: unknown }
  | { kind: 'reset'; keys: unknown };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('allow' as const), key: keyArb, limit: limitArb, options: optionsArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('allowAtMost' as const), key: keyArb, limit: limitArb, n: costArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const), key: keyArb, limit: limitArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('allowAll' as const),
      items: fc.oneof(
        { weight: 5, arbitrary: fc.array(fc.record({ key: keyArb, limit: limitArb, cost: fc.option(costArb, { nil: undefined }) }), { minLength: 1, maxLength: 4 }) },
        { weight: 1, arbitrary: fc.constantFrom([], null, 'k', [null]) },
      ),
    }),
  },
  // maxWait 0: wait answers at once (allowed, or ERR_WAIT_EXCEEDED), so a run never sleeps.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), key: keyArb, limit: limitArb, options: fc.constantFrom<unknown>({ maxWait: 0 }, { maxWait: 0, cost: 2 }, { maxWait: -1 }, null, 5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), keys: fc.oneof(keyArb, fc.array(keyArb, { maxLength: 3 })) }) },
);

type Answer = { result: LimitResult } | { code: string };

async function run(limiter: Limiter, op: Op): Promise<Answer> {
  try {
    const call = (): Promise<LimitResult | void> => {
      switch (op.kind) {
        case 'allow':
          return limiter.allow(op.key as string, op.limit as Limit, op.options as object);
        case 'allowAtMost':
          return limiter.allowAtMost(op.key as string, op.limit as Limit, op.n as number);
        case 'peek':
          return limiter.peek(op.key as string, op.limit as Limit);
        case 'allowAll':
          return limiter.allowAll(op.items as never);
        case 'wait':
          return limiter.wait(op.key as string, op.limit as Limit, op.options as object);
        case 'reset':
          return limiter.reset(op.keys as string);
      }
    };
    const result = await call();
    if (result === undefined) return { code: 'OK' };
    assertValid(result);
    return { result };
  } catch (error) {
    assert.ok(error instanceof LimiterError, `${op.kind} threw ${String(error)}, not a LimiterError`);
    return { code: error.code };
  }
}

function assertValid(r: LimitResult): void {
  assert.equal(typeof r.allowed, 'boolean');
  assert.ok(Number.isSafeInteger(r.granted) && r.granted >= 0, `granted ${r.granted}`);
  assert.ok(Number.isSafeInteger(r.remaining) && r.remaining >= 0, `remaining ${r.remaining}`);
  assert.ok(r.retryAfter === Infinity || (Number.isSafeInteger(r.retryAfter) && r.retryAfter >= 0), `retryAfter ${r.retryAfter}`);
  assert.ok(Number.isSafeInteger(r.resetAfter) && r.resetAfter >= 0, `resetAfter ${r.resetAfter}`);
  assert.equal(r.allowed ? r.retryAfter : 1, r.allowed ? 0 : 1, 'an allowed result has retryAfter 0');
  if (!r.allowed) assert.equal(r.granted, 0);
  assert.equal(r.reason, undefined, 'no failure policy answered');
}

/** The verdict both stores must agree on. */
function verdict(a: Answer): unknown {
  if ('code' in a) return a.code;
  const { allowed, granted, retryAfter, items } = a.result;
  return { allowed, granted, never: retryAfter === Infinity, items: items?.map((i) => [i.allowed, i.granted]) };
}

describe('fuzz: the public API over both stores', () => {
  const redis = useRedis();
  const stores: RedisStore[] = [];
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it('only valid results or LimiterErrors; the same verdict from both stores; afterwards every key holds an integer TAT with a positive TTL', { timeout: 120_000 }, async () => {
    let run_ = 0;
    let calls = 0;
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), async (ops) => {
        run_ += 1;
        const prefix = `fz:${run_}:`;
        const store = new RedisStore({ client: redis.shared, prefix, now: () => NOW });
        stores.push(store);
        const onRedis = new Limiter({ store, telemetry: false });
        const inProcess = new Limiter({ store: new MemoryStore({ now: () => NOW }), telemetry: false });
        for (const op of ops) {
          const [r, m] = [await run(onRedis, op), await run(inProcess, op)];
          calls += 1;
          const v = verdict(r);
          if (typeof v === 'string') codes.set(v, (codes.get(v) ?? 0) + 1);
          assert.deepEqual(v, verdict(m), `${op.kind}: Redis and in-process disagree`);
        }
        await store.close();
      }),
      { numRuns: 300 },
    );
    // Every key written holds an integer TAT (µs) with a positive TTL.
    let keys = 0;
    let cursor = '0';
    do {
      const [next, batch] = await redis.shared.scan(cursor, 'MATCH', 'fz:*', 'COUNT', 1000);
      cursor = next;
      for (const key of batch) {
        keys += 1;
        const [value, ttl] = await Promise.all([redis.shared.get(key), redis.shared.pttl(key)]);
        assert.match(value ?? '', /^[1-9][0-9]*$/, `${JSON.stringify(key)} holds ${JSON.stringify(value)}`);
        assert.ok(Number.isSafeInteger(Number(value)), `${JSON.stringify(key)}: ${value}`);
        assert.ok(ttl > 0, `${JSON.stringify(key)} has TTL ${ttl}`);
      }
    } while (cursor !== '0');
    assert.ok(keys > 50, `only ${keys} keys were written`);
    assert.ok(calls > 1000, `only ${calls} calls`);
    for (const code of ['ERR_INVALID_KEY', 'ERR_INVALID_LIMIT', 'ERR_INVALID_COST', 'ERR_INVALID_OPTION', 'ERR_OVERFLOW']) {
      assert.ok((codes.get(code) ?? 0) > 0, `the fuzz never produced ${code}: ${JSON.stringify([...codes])}`);
    }
  });
});
