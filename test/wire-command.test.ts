/**
 * Pre-encoded script calls (src/wire-command.ts): the RESP a call sends is
 * byte for byte what ioredis's own `Command` would write, for any keys and
 * arguments (property test: its string, UTF-8 encoded as the socket does);
 * a real Redis answers the pre-encoded call as it answers `client.evalsha`; a Cluster client routes it by its first key's
 * slot; a client with a `keyPrefix` keeps ioredis's own path, so its prefix
 * still applies; and a client without `sendCommand` is left to the caller.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Command, Redis } from 'ioredis';
import { Limiter, RedisStore, concurrency, perMinute } from '../src/index.js';
import { limitScript } from '../src/lua.js';
import { encodeEvalsha, loadWireCommands, sendEvalsha } from '../src/wire-command.js';
import { useRedis } from './helpers/redis-server.js';

const SHA = limitScript.sha;

describe('encodeEvalsha', () => {
  it('writes the bytes ioredis writes, for any keys and arguments', () => {
    const arg = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.integer(), fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { maxLength: 8 }), fc.array(arg, { maxLength: 12 }), (keys, args) => {
        const theirs = new Command('evalsha', [SHA, keys.length, ...keys, ...args], { replyEncoding: 'utf8' }).toWritable({});
        assert.deepEqual(encodeEvalsha(SHA, keys, args), Buffer.from(theirs));
      }),
      { numRuns: 500 },
    );
  });

  it('counts bytes right for ASCII, non-ASCII and long strings (the ASCII scan and Buffer.byteLength paths)', () => {
    const text = fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: 'grapheme', minLength: 60, maxLength: 70 }));
    fc.assert(
      fc.property(fc.array(text, { maxLength: 4 }), fc.array(text, { maxLength: 6 }), (keys, args) => {
        const theirs = new Command('evalsha', [SHA, keys.length, ...keys, ...args], { replyEncoding: 'utf8' }).toWritable({});
        assert.deepEqual(encodeEvalsha(SHA, keys, args), Buffer.from(theirs));
      }),
      { numRuns: 500 },
    );
    const long = new Command('evalsha', [SHA, 1, 'é', 'x'.repeat(64), `${'x'.repeat(64)}é`], { replyEncoding: 'utf8' }).toWritable({});
    assert.deepEqual(encodeEvalsha(SHA, ['é'], ['x'.repeat(64), `${'x'.repeat(64)}é`]), Buffer.from(long));
  });
});

describe('sendEvalsha on a real Redis', () => {
  const redis = useRedis();
  let client: Redis;
  before(async () => {
    await loadWireCommands();
    client = redis.client();
    await client.script('LOAD', limitScript.source);
  });
  after(() => client.disconnect());

  it('answers as client.evalsha does', async () => {
    const keys = ['wire:a', 'wire:ü'];
    // now fixed, one unused limit pair, two acquires.
    const args = [1_750_000_000_000_000, 1, 1, 1, 2, 'C', 5, 1_000_000, 'lease-1', 'C', 5, 1_000_000, 'lease-2'];
    const fast = sendEvalsha(client, SHA, keys, args);
    assert.ok(fast, 'the fast path is available for a plain ioredis client');
    const reply = await fast;
    await client.del(...keys);
    assert.deepEqual(reply, await client.evalsha(SHA, keys.length, ...keys, ...args));
    // Allowed acquires answer one integer, count * 2^26 + expired (lua/concurrency.lua): none held, none expired.
    assert.deepEqual(reply, [1_750_000_000_000_000, 0, 0]);
  });

  it('rejects with the server error, so NOSCRIPT can fall back to EVAL', async () => {
    const fast = sendEvalsha(client, 'f'.repeat(40), ['k'], ['']);
    await assert.rejects(fast as Promise<unknown>, /NOSCRIPT/);
  });

  it('leaves a client with a keyPrefix, or without sendCommand, to the caller', () => {
    const prefixed = new Redis({ host: '127.0.0.1', port: redis.port, keyPrefix: 'p:', lazyConnect: true });
    try {
      assert.equal(sendEvalsha(prefixed, SHA, ['k'], ['']), undefined);
      assert.equal(sendEvalsha({ evalsha: () => Promise.resolve(1) }, SHA, ['k'], ['']), undefined);
    } finally {
      prefixed.disconnect();
    }
  });

  it("keeps a keyPrefix client's prefix on the store's keys", async () => {
    const prefixed = new Redis({ host: '127.0.0.1', port: redis.port, keyPrefix: 'pre:' });
    const store = new RedisStore({ client: prefixed, prefix: 'tg:' });
    try {
      const limiter = new Limiter({ store, telemetry: false });
      assert.equal((await limiter.allow('user', perMinute(5))).allowed, true);
      const lease = await limiter.acquire('job', concurrency(2, { ttl: 10_000 }));
      assert.equal(lease.allowed, true);
      assert.equal(await client.exists('pre:tg:user'), 1);
      assert.equal(await client.zcard('pre:tg:job'), 1);
      assert.equal(await lease.release(), true);
    } finally {
      await store.close();
      prefixed.disconnect();
    }
  });

  it('a store on a plain client sends pre-encoded calls with the same answers', async () => {
    const store = new RedisStore({ client, prefix: 'wire-store:' });
    try {
      await loadWireCommands();
      const limiter = new Limiter({ store, telemetry: false });
      const limit = perMinute(3);
      const verdicts = [];
      for (let i = 0; i < 4; i += 1) verdicts.push((await limiter.allow('u', limit)).allowed);
      assert.deepEqual(verdicts, [true, true, true, false]);
      const leases = await Promise.all([1, 2, 3].map(() => limiter.acquire('j', concurrency(2, { ttl: 10_000 }))));
      assert.deepEqual(
        leases.map((l) => l.allowed),
        [true, true, false],
      );
      assert.equal(await client.zcard('wire-store:j'), 2);
      for (const l of leases) await l.release();
      assert.equal(await client.exists('wire-store:j'), 0);
    } finally {
      await store.close();
    }
  });
});
