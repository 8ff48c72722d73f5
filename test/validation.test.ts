/**
 * Input validation (SPEC section 7, issue 2 item 6): every invalid input is
 * rejected with a LimiterError carrying the right stable code and a message
 * that names the field and the offending value, and nothing reaches Redis
 * (the harness server sees no command at all: INFO commandstats, DBSIZE).
 * Option validation of the Limiter, RedisStore and MemoryStore constructors
 * and of clocks is covered too.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  type ErrorCode,
  type Limit,
  Limiter,
  LimiterError,
  MAX_KEY_LENGTH,
  MemoryStore,
  RedisStore,
  perDay,
  perHour,
  perMinute,
  perSecond,
} from '../src/index.js';
import { commandStats, resetStats } from './helpers/commandstats.js';
import { useRedis } from './helpers/redis-server.js';

const OK = perMinute(3);

/** A predicate for assert.throws/rejects: a LimiterError with `code` whose message contains every `mentions`. */
function limiterError(code: ErrorCode, mentions: readonly string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof LimiterError, `expected a LimiterError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} should mention ${JSON.stringify(m)}`);
    return true;
  };
}

const lim = (l: unknown): Limit => l as Limit;

/** Invalid limits: the value, the field the message must name, and how the value must appear. */
const BAD_LIMITS: { limit: unknown; code?: ErrorCode; mentions: string[] }[] = [
  { limit: { rate: 0, period: 1000 }, mentions: ['rate', '0'] },
  { limit: { rate: -1, period: 1000 }, mentions: ['rate', '-1'] },
  { limit: { rate: 1.5, period: 1000 }, mentions: ['rate', '1.5'] },
  { limit: { rate: NaN, period: 1000 }, mentions: ['rate', 'NaN'] },
  { limit: { rate: Infinity, period: 1000 }, mentions: ['rate', 'Infinity'] },
  { limit: { rate: '3', period: 1000 }, mentions: ['rate', '"3"'] },
  { limit: { period: 1000 }, mentions: ['rate', 'undefined'] },
  { limit: { rate: 3, period: 1000, burst: 0 }, mentions: ['burst', '0'] },
  { limit: { rate: 3, period: 1000, burst: -2 }, mentions: ['burst', '-2'] },
  { limit: { rate: 3, period: 1000, burst: 2.5 }, mentions: ['burst', '2.5'] },
  { limit: { rate: 3, period: 1000, burst: NaN }, mentions: ['burst', 'NaN'] },
  { limit: { rate: 3, period: 1000, burst: Infinity }, mentions: ['burst', 'Infinity'] },
  { limit: { rate: 3, period: 0 }, mentions: ['period', '0'] },
  { limit: { rate: 3, period: -1000 }, mentions: ['period', '-1000'] },
  { limit: { rate: 3, period: NaN }, mentions: ['period', 'NaN'] },
  { limit: { rate: 3, period: Infinity }, mentions: ['period', 'Infinity'] },
  { limit: { rate: 3, period: '1000' }, mentions: ['period', '"1000"'] },
  { limit: { rate: 3 }, mentions: ['period', 'undefined'] },
  { limit: { rate: 3, period: 0.0001 }, mentions: ['period', '0.0001'] },
  { limit: { rate: 3, period: 1000, name: '' }, mentions: ['name', '""'] },
  { limit: null, mentions: ['limit', 'null'] },
  { limit: 'perSecond(3)', mentions: ['limit', '"perSecond(3)"'] },
  // Products past 2^53: tau = T * B, or the period itself.
  { limit: { rate: 1, period: 1e9, burst: 10_000 }, code: 'ERR_OVERFLOW', mentions: ['burst', '10000', '2^53'] },
  { limit: { rate: 1, period: 2 ** 52 / 1000 }, mentions: ['period', String(2 ** 52 / 1000)] },
];

const BAD_COSTS: { cost: unknown; mentions: string[] }[] = [
  { cost: -1, mentions: ['cost', '-1'] },
  { cost: 1.5, mentions: ['cost', '1.5'] },
  { cost: NaN, mentions: ['cost', 'NaN'] },
  { cost: Infinity, mentions: ['cost', 'Infinity'] },
  { cost: '1', mentions: ['cost', '"1"'] },
  { cost: null, mentions: ['cost', 'null'] },
];

const BAD_KEYS: { key: unknown; mentions: string[] }[] = [
  { key: '', mentions: ['key', 'length 0'] },
  { key: 123, mentions: ['key', '123'] },
  { key: null, mentions: ['key', 'null'] },
  { key: undefined, mentions: ['key', 'undefined'] },
  { key: { id: 1 }, mentions: ['key', '[object Object]'] },
  { key: 'x'.repeat(MAX_KEY_LENGTH + 1), mentions: ['key', `length ${MAX_KEY_LENGTH + 1}`, String(MAX_KEY_LENGTH), 'UTF-16 code units'] },
  // Lone surrogates reach Redis as U+FFFD: different keys would share a bucket there.
  { key: 'ls:\uD800', mentions: ['key', 'well-formed Unicode', 'U+D800', 'index 3'] },
  { key: 'ls:\uDBFF', mentions: ['key', 'well-formed Unicode', 'U+DBFF'] },
  { key: '\uDC00x', mentions: ['key', 'U+DC00', 'index 0'] },
  { key: 'pair\uD83D\uDE00\uD83D', mentions: ['key', 'U+D83D', 'index 6'] },
];

/** Options that are not an object: every method taking options rejects them alike. */
const BAD_OPTIONS: unknown[] = [null, 5, 'x', [], true];

describe('invalid input is rejected before any Redis call', () => {
  let store: RedisStore;
  let limiter: Limiter;
  // Registered before useRedis(), so the store closes before the server stops.
  after(async () => {
    await store.close();
  });
  const redis = useRedis();
  before(async () => {
    await redis.shared.ping();
    store = new RedisStore({ client: redis.shared, prefix: 'v:' });
    limiter = new Limiter({ store });
  });
  beforeEach(async () => {
    await redis.shared.flushdb();
    await resetStats(redis.shared);
  });

  /** Nothing but this test's own INFO/CONFIG/DBSIZE reached the server, and the key space is empty. */
  async function assertNothingReachedRedis(): Promise<void> {
    assert.equal(await redis.shared.dbsize(), 0);
    const seen = [...(await commandStats(redis.shared)).keys()].filter((c) => !['info', 'config|resetstat', 'dbsize'].includes(c));
    assert.deepEqual(seen, [], 'commands that reached Redis');
  }

  for (const { limit, code = 'ERR_INVALID_LIMIT', mentions } of BAD_LIMITS) {
    it(`rejects limit ${JSON.stringify(limit) ?? String(limit)} (${mentions[0]}) in every method`, async () => {
      const check = limiterError(code, mentions);
      await assert.rejects(limiter.allow('k', lim(limit)), check);
      await assert.rejects(limiter.allowAtMost('k', lim(limit), 1), check);
      await assert.rejects(limiter.peek('k', lim(limit)), check);
      await assert.rejects(limiter.wait('k', lim(limit)), check);
      await assert.rejects(limiter.allowAll([{ key: 'ok', limit: OK }, { key: 'k', limit: lim(limit) }]), check);
      await assertNothingReachedRedis();
    });
  }

  for (const { cost, mentions } of BAD_COSTS) {
    it(`rejects cost ${String(cost)}`, async () => {
      const check = limiterError('ERR_INVALID_COST', mentions);
      await assert.rejects(limiter.allow('k', OK, { cost: cost as number }), check);
      await assert.rejects(limiter.wait('k', OK, { cost: cost as number }), check);
      await assert.rejects(
        limiter.allowAll([{ key: 'ok', limit: OK }, { key: 'k', limit: OK, cost: cost as number }]),
        limiterError('ERR_INVALID_COST', ['items[1].cost', ...mentions.slice(1)]),
      );
      await assertNothingReachedRedis();
    });
  }

  for (const n of [0, -1, 1.5, NaN]) {
    it(`rejects allowAtMost n = ${n}`, async () => {
      await assert.rejects(limiter.allowAtMost('k', OK, n), limiterError('ERR_INVALID_COST', ['n must be an integer >= 1', String(n)]));
      await assertNothingReachedRedis();
    });
  }

  it('rejects costs whose product with the emission interval passes 2^53', async () => {
    // perDay(1): T = 86_400_000_000 µs; 100_000 units would be 8.64e15 µs of TAT.
    await assert.rejects(limiter.allow('k', perDay(1), { cost: 100_000 }), limiterError('ERR_OVERFLOW', ['cost', '100000', '2^53']));
    await assert.rejects(limiter.allowAtMost('k', perDay(1), 100_000), limiterError('ERR_OVERFLOW', ['n', '100000']));
    await assert.rejects(limiter.allow('k', OK, { cost: Number.MAX_SAFE_INTEGER }), limiterError('ERR_OVERFLOW', ['cost']));
    await assertNothingReachedRedis();
  });

  for (const { key, mentions } of BAD_KEYS) {
    const shown = typeof key === 'string' ? `a string of length ${key.length}` : String(key);
    it(`rejects key ${shown} in every method`, async () => {
      const check = limiterError('ERR_INVALID_KEY', mentions);
      await assert.rejects(limiter.allow(key as string, OK), check);
      await assert.rejects(limiter.allowAtMost(key as string, OK, 1), check);
      await assert.rejects(limiter.peek(key as string, OK), check);
      await assert.rejects(limiter.wait(key as string, OK), check);
      await assert.rejects(limiter.allowAll([{ key: 'ok', limit: OK }, { key: key as string, limit: OK }]), limiterError('ERR_INVALID_KEY', ['items[1].key']));
      await assert.rejects(limiter.reset(key as string), limiterError('ERR_INVALID_KEY', [mentions[1] ?? '']));
      await assert.rejects(limiter.reset(['ok', key as string]), limiterError('ERR_INVALID_KEY', ['keys[1]']));
      await assertNothingReachedRedis();
    });
  }

  for (const options of BAD_OPTIONS) {
    it(`rejects options ${JSON.stringify(options)} in allow() and wait() alike`, async () => {
      await assert.rejects(limiter.allow('k', OK, options as object), limiterError('ERR_INVALID_OPTION', ['allow options must be an object', JSON.stringify(options) === '[]' ? '[object Array]' : String(options)]));
      await assert.rejects(limiter.wait('k', OK, options as object), limiterError('ERR_INVALID_OPTION', ['wait options must be an object']));
      await assertNothingReachedRedis();
    });
  }

  it('a well-formed key with astral characters, braces, NUL and newlines is accepted and kept apart from U+FFFD', async () => {
    const one = perMinute(1);
    for (const key of ['\uD83D\uDE00', '{tag}\u0000\n', '\uFFFD']) {
      assert.equal((await limiter.allow(key, one)).allowed, true, key);
      assert.equal((await limiter.allow(key, one)).allowed, false, key);
    }
    assert.equal(await redis.shared.dbsize(), 3);
  });

  it('accepts a key of exactly MAX_KEY_LENGTH characters', async () => {
    assert.equal(MAX_KEY_LENGTH, 1024);
    const result = await limiter.allow('y'.repeat(MAX_KEY_LENGTH), OK);
    assert.equal(result.remaining, 2);
    assert.equal(await redis.shared.exists(`v:${'y'.repeat(MAX_KEY_LENGTH)}`), 1);
    // The same statistics that show nothing for invalid input do show a valid call.
    assert.ok((await commandStats(redis.shared)).has('evalsha'));
  });

  it('rejects malformed allowAll calls', async () => {
    await assert.rejects(limiter.allowAll([]), limiterError('ERR_INVALID_OPTION', ['allowAll', 'non-empty array']));
    await assert.rejects(limiter.allowAll('k' as unknown as []), limiterError('ERR_INVALID_OPTION', ['allowAll']));
    await assert.rejects(limiter.allowAll([null as unknown as { key: string; limit: Limit }]), limiterError('ERR_INVALID_OPTION', ['items[0]', 'null']));
    await assert.rejects(limiter.allowAll([{ key: 'k', limit: lim({ rate: 0, period: 1 }) }]), limiterError('ERR_INVALID_LIMIT', ['rate']));
    await assertNothingReachedRedis();
  });

  it('rejects bad wait options', async () => {
    for (const maxWait of [-1, NaN, '10']) {
      await assert.rejects(limiter.wait('k', OK, { maxWait: maxWait as number }), limiterError('ERR_INVALID_OPTION', ['maxWait', String(maxWait)]));
    }
    await assert.rejects(limiter.wait('k', OK, { signal: 'stop' as unknown as AbortSignal }), limiterError('ERR_INVALID_OPTION', ['signal', '"stop"']));
    await assert.rejects(limiter.wait('k', OK, 5 as unknown as object), limiterError('ERR_INVALID_OPTION', ['wait options', '5']));
    await assertNothingReachedRedis();
  });

  it('rejects a clock that does not return integer microseconds, before any Redis call', async () => {
    for (const reading of [1.5, NaN, -1, 2 ** 53, '1750000000000000', undefined]) {
      const clocked = new Limiter({ store: new RedisStore({ client: redis.shared, prefix: 'v:', now: () => reading as number }) });
      await assert.rejects(clocked.allow('k', OK), limiterError('ERR_INVALID_CLOCK', ['now()', String(reading)]));
    }
    await assertNothingReachedRedis();
  });
});

describe('limit helpers validate at once', () => {
  for (const [name, make] of [
    ['perSecond', perSecond],
    ['perMinute', perMinute],
    ['perHour', perHour],
    ['perDay', perDay],
  ] as const) {
    it(`${name} rejects bad rates and bursts synchronously`, () => {
      assert.throws(() => make(0), limiterError('ERR_INVALID_LIMIT', ['rate', '0']));
      assert.throws(() => make(1.5), limiterError('ERR_INVALID_LIMIT', ['rate', '1.5']));
      assert.throws(() => make(NaN), limiterError('ERR_INVALID_LIMIT', ['rate', 'NaN']));
      assert.throws(() => make(10, 0), limiterError('ERR_INVALID_LIMIT', ['burst', '0']));
      assert.throws(() => make(10, -3), limiterError('ERR_INVALID_LIMIT', ['burst', '-3']));
      assert.deepEqual(make(10, 4), { rate: 10, period: ({ perSecond: 1000, perMinute: 60_000, perHour: 3_600_000, perDay: 86_400_000 } as const)[name], burst: 4 });
      assert.ok(Object.isFrozen(make(10)));
    });
  }
});

describe('constructor options', () => {
  const redis = useRedis();

  it('Limiter', () => {
    const bad = (options: unknown, mentions: string[]): void => {
      assert.throws(() => new Limiter(options as object), limiterError('ERR_INVALID_OPTION', mentions));
    };
    bad('fast', ['Limiter options', '"fast"']);
    bad([], ['Limiter options']);
    bad({ store: {} }, ['store', 'Store interface']);
    bad({ store: 'redis' }, ['store', '"redis"']);
    bad({ onStoreError: 'sometimes' }, ['onStoreError', '"sometimes"', '"open"', '"closed"', '"local"', '"throw"']);
    bad({ failureCooldown: -1 }, ['failureCooldown', '-1']);
    bad({ failureCooldown: 1.5 }, ['failureCooldown', '1.5']);
    assert.ok(new Limiter() instanceof Limiter);
    assert.ok(new Limiter({ onStoreError: 'local', failureCooldown: 0 }) instanceof Limiter);
  });

  it('RedisStore', async () => {
    const bad = (options: unknown, mentions: string[]): void => {
      assert.throws(() => new RedisStore(options as { client: Redis }), limiterError('ERR_INVALID_OPTION', mentions));
    };
    bad(undefined, ['client']);
    bad({}, ['client']);
    bad({ client: {} }, ['client', 'ioredis']);
    bad({ client: 'redis://127.0.0.1' }, ['client']);
    bad({ client: redis.shared, prefix: 5 }, ['prefix', '5']);
    bad({ client: redis.shared, now: 5 }, ['now', '5']);
    bad({ client: redis.shared, now: 'server' }, ['now', '"server"']);
    bad('client', ['RedisStore options', '"client"']);
    for (const [options, prefix] of [[{}, 'tollgate:'], [{ prefix: '' }, '']] as const) {
      const made = new RedisStore({ client: redis.shared, ...options });
      assert.equal(made.prefix, prefix);
      await made.close();
    }
  });

  it('MemoryStore', async () => {
    const bad = (options: unknown, mentions: string[]): void => {
      assert.throws(() => new MemoryStore(options as object), limiterError('ERR_INVALID_OPTION', mentions));
    };
    bad(5, ['MemoryStore options', '5']);
    bad({ maxKeys: 0 }, ['maxKeys', '0']);
    bad({ maxKeys: 1.5 }, ['maxKeys', '1.5']);
    bad({ maxKeys: '10' }, ['maxKeys', '"10"']);
    bad({ now: 'process' }, ['now', '"process"']);
    const clocked = new Limiter({ store: new MemoryStore({ now: () => 1.5 }) });
    await assert.rejects(clocked.allow('k', OK), limiterError('ERR_INVALID_CLOCK', ['now()', '1.5']));
    // The in-process store refuses lone surrogates too, so both stores keep the same buckets.
    const local = new Limiter({ telemetry: false });
    await assert.rejects(local.allow('ls:\uD800', perMinute(1)), limiterError('ERR_INVALID_KEY', ['well-formed Unicode']));
    await assert.rejects(local.allow('k', OK, null as unknown as object), limiterError('ERR_INVALID_OPTION', ['allow options', 'null']));
  });
});
