/**
 * The Fastify plugin through `fastify.inject`, against the in-process store
 * and a real Redis started by the harness, on a test clock.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/redis-store.js';
import { freePort } from './helpers/redis-server.js';
import { Limiter } from '../src/limiter.js';
import { perMinute, perSecond } from '../src/limits.js';
import { type FastifyRateLimitOptions, tollgate } from '../middleware/fastify.js';
import type { RateLimitInfo } from '../middleware/types.js';
import { RecordingHooks, TestClock, backends, parseRateLimitField } from './helpers/http.js';

const all = await backends();
after(async () => {
  for (const b of all) await b.stop();
});

const info = (req: FastifyRequest): RateLimitInfo | null => req.rateLimit ?? null;

for (const backend of all) {
  describe(`Fastify plugin (${backend.kind} store)`, () => {
    const setup = () => {
      const clock = new TestClock();
      return { clock, limiter: new Limiter({ store: backend.store(clock) }) };
    };
    async function app(options: FastifyRateLimitOptions, routes: (f: FastifyInstance) => void, fastifyOptions: { trustProxy?: string } = {}): Promise<FastifyInstance> {
      const f: FastifyInstance = Fastify(fastifyOptions);
      await f.register(tollgate, options);
      routes(f);
      await f.ready();
      return f;
    }

    it('sets valid RateLimit headers when allowed and answers 429 problem+json when denied', async () => {
      const { limiter } = setup();
      const f = await app({ limiter, limit: perSecond(2), legacyHeaders: true }, (f) => f.get('/', async (req) => info(req)));
      const r1 = await f.inject('/');
      assert.equal(r1.statusCode, 200);
      assert.deepEqual(parseRateLimitField(r1.headers['ratelimit-policy'] as string), [{ name: 'default', params: { q: 2, w: 1 } }]);
      assert.deepEqual(parseRateLimitField(r1.headers.ratelimit as string), [{ name: 'default', params: { r: 1, t: 1 } }]);
      assert.equal(r1.headers['x-ratelimit-remaining'], '1');
      assert.equal(r1.json().allowed, true);
      assert.equal((await f.inject('/')).statusCode, 200);
      const r3 = await f.inject('/');
      assert.equal(r3.statusCode, 429);
      assert.match(String(r3.headers['content-type']), /^application\/problem\+json/);
      assert.equal(r3.headers['retry-after'], '1');
      assert.deepEqual(r3.json(), {
        type: 'about:blank',
        title: 'Too Many Requests',
        status: 429,
        detail: 'Rate limit "default" exceeded; retry in 1 second.',
        retryAfter: 1,
        violatedPolicies: [{ name: 'default', quota: 2, window: 1, retryAfter: 1 }],
      });
      await f.close();
    });

    it('Retry-After is never earlier than the real retry time', async () => {
      const { clock, limiter } = setup();
      let captured: RateLimitInfo | undefined;
      const f = await app(
        { limiter, limit: { rate: 3, period: 2500 }, handler: async (_req, reply, inf) => void (captured = inf, await reply.code(429).send()) },
        (f) => f.get('/', async () => 'ok'),
      );
      for (let i = 0; i < 3; i += 1) assert.equal((await f.inject('/')).statusCode, 200);
      const denied = await f.inject('/');
      assert.equal(denied.statusCode, 429);
      const header = Number(denied.headers['retry-after']);
      const real = (captured as RateLimitInfo).result.retryAfter;
      assert.ok(real > 0 && header * 1000 >= real);
      const start = clock.us;
      clock.advance(real - 1);
      assert.equal((await f.inject('/')).statusCode, 429);
      clock.us = start + header * 1_000_000;
      assert.equal((await f.inject('/')).statusCode, 200);
      await f.close();
    });

    it('a compound policy denies on the tighter limit and takes nothing from the other', async () => {
      const { limiter } = setup();
      const f = await app(
        {
          limiter,
          limits: {
            user: { limit: perSecond(1), key: (req) => String(req.headers['x-user']) },
            tenant: { limit: perMinute(2), key: (req) => String(req.headers['x-tenant']) },
          },
          handler: async (req, reply) => void (await reply.code(429).send(info(req))),
        },
        (f) => f.get('/', async () => 'ok'),
      );
      const get = (user: string) => f.inject({ url: '/', headers: { 'x-user': user, 'x-tenant': 't' } });
      assert.equal((await get('a')).statusCode, 200);
      const byUser = await get('a');
      assert.equal(byUser.statusCode, 429);
      const d1 = byUser.json() as RateLimitInfo;
      assert.deepEqual(d1.result.items?.map((i) => i.allowed), [false, true]);
      assert.equal((await limiter.peek(d1.limits[1]?.key ?? '', perMinute(2))).remaining, 1);
      assert.equal((await get('b')).statusCode, 200);
      const byTenant = await get('c');
      assert.equal(byTenant.statusCode, 429);
      const d2 = byTenant.json() as RateLimitInfo;
      assert.deepEqual(d2.result.items?.map((i) => i.allowed), [true, false]);
      assert.equal((await limiter.peek(d2.limits[0]?.key ?? '', perSecond(1))).remaining, 1);
      await f.close();
    });

    it('per-route config replaces the global limit with its own buckets, and false exempts a route', async () => {
      const { limiter } = setup();
      const f = await app({ limiter, limit: perSecond(3) }, (f) => {
        f.get('/', async () => 'home');
        f.get('/free', { config: { rateLimit: false } }, async (req) => info(req));
        f.get('/login', { config: { rateLimit: { limit: perMinute(1) } } }, async () => 'in');
        f.get('/named', { config: { rateLimit: { name: 'login-name', limit: perMinute(1) } } }, async () => 'in');
      });
      for (let i = 0; i < 6; i += 1) {
        const r = await f.inject('/free');
        assert.equal(r.statusCode, 200);
        assert.equal(r.headers.ratelimit, undefined);
        assert.equal(r.json(), null);
      }
      assert.equal((await f.inject('/login')).statusCode, 200);
      const second = await f.inject('/login');
      assert.equal(second.statusCode, 429);
      assert.deepEqual(parseRateLimitField(second.headers['ratelimit-policy'] as string), [{ name: 'default', params: { q: 1, w: 60 } }]);
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await f.inject('/')).statusCode);
      assert.deepEqual(statuses, [200, 200, 200, 429], 'the login route did not use the global bucket');
      assert.equal((await f.inject('/named')).statusCode, 200);
      assert.equal((await f.inject({ method: 'HEAD', url: '/login' })).statusCode, 429, 'HEAD shares the GET route bucket');
      await f.close();
    });

    it('global: false limits only the routes that ask for it; the hook is configurable', async () => {
      const { limiter } = setup();
      const seen: string[] = [];
      const f = await app({ limiter, global: false, hook: 'preHandler', key: (req) => String((req as FastifyRequest & { user?: string }).user) }, (f) => {
        f.addHook('preValidation', async (req) => {
          seen.push('auth');
          (req as FastifyRequest & { user?: string }).user = String(req.headers['x-user']);
        });
        f.get('/open', async () => 'open');
        f.get('/limited', { config: { rateLimit: { limit: perSecond(1) } } }, async () => 'limited');
      });
      for (let i = 0; i < 3; i += 1) assert.equal((await f.inject('/open')).statusCode, 200);
      assert.equal((await f.inject({ url: '/limited', headers: { 'x-user': 'a' } })).statusCode, 200);
      assert.equal((await f.inject({ url: '/limited', headers: { 'x-user': 'a' } })).statusCode, 429);
      assert.equal((await f.inject({ url: '/limited', headers: { 'x-user': 'b' } })).statusCode, 200, 'the key came from a preValidation hook');
      assert.equal(seen.length, 6);
      await f.close();
    });

    it('resolves per-tenant plans with a cached resolver', async () => {
      const { limiter } = setup();
      let calls = 0;
      const plans: Record<string, number> = { acme: 1, globex: 3 };
      const f = await app(
        {
          limiter,
          policyKey: (req) => req.headers['x-tenant'] as string | undefined,
          policy: async (req) => {
            calls += 1;
            const tenant = String(req.headers['x-tenant']);
            const rate = plans[tenant];
            return rate === undefined ? null : { name: rate > 1 ? 'pro' : 'free', scope: tenant, limit: perSecond(rate), key: () => 'tenant' };
          },
        },
        (f) => f.get('/', async () => 'ok'),
      );
      const run = async (tenant: string, n: number) => {
        const out = [];
        for (let i = 0; i < n; i += 1) out.push((await f.inject({ url: '/', headers: { 'x-tenant': tenant } })).statusCode);
        return out;
      };
      assert.deepEqual(await run('acme', 2), [200, 429]);
      assert.deepEqual(await run('globex', 4), [200, 200, 200, 429]);
      assert.deepEqual(await run('nobody', 3), [200, 200, 200]);
      assert.equal(calls, 3);
      await f.close();
    });

    it('ignores X-Forwarded-For unless trustProxy is configured, and honours it when it is', async () => {
      const { limiter } = setup();
      const direct = await app({ limiter, name: 'direct', limit: perSecond(1) }, (f) => f.get('/', async () => 'ok'));
      const d = [];
      for (const ip of ['203.0.113.1', '203.0.113.2']) d.push((await direct.inject({ url: '/', headers: { 'x-forwarded-for': ip } })).statusCode);
      assert.deepEqual(d, [200, 429]);
      await direct.close();
      const proxied = await app({ limiter, name: 'proxied', limit: perSecond(1) }, (f) => f.get('/', async () => 'ok'), { trustProxy: '127.0.0.1' });
      const p = [];
      for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.1']) p.push((await proxied.inject({ url: '/', headers: { 'x-forwarded-for': ip } })).statusCode);
      assert.deepEqual(p, [200, 200, 429]);
      await proxied.close();
    });

    it('two IPv6 addresses in one /64 share a bucket', async () => {
      const { limiter } = setup();
      const f = await app({ limiter, limit: perSecond(2) }, (f) => f.get('/', async () => 'ok'));
      const status = async (remoteAddress: string) => (await f.inject({ url: '/', remoteAddress })).statusCode;
      assert.equal(await status('2001:db8:aa:bb::1'), 200);
      assert.equal(await status('2001:db8:aa:bb:1:2:3:4'), 200);
      assert.equal(await status('2001:db8:aa:bb::2'), 429);
      assert.equal(await status('2001:db8:aa:bc::1'), 200);
      await f.close();
    });

    it('shadow mode never returns 429', async () => {
      const { limiter } = setup();
      const hooks = new RecordingHooks();
      const f = await app({ limiter, name: 'canary', limit: perSecond(1), shadow: true, hooks }, (f) => f.get('/', async (req) => info(req)?.allowed));
      const bodies = [];
      for (let i = 0; i < 4; i += 1) {
        const r = await f.inject('/');
        assert.equal(r.statusCode, 200);
        assert.equal(r.headers['retry-after'], undefined);
        assert.ok(r.headers.ratelimit);
        bodies.push(r.json());
      }
      assert.deepEqual(bodies, [true, false, false, false]);
      assert.deepEqual(hooks.events.map(([r]) => r), ['allowed', 'shadow_denied', 'shadow_denied', 'shadow_denied']);
      await f.close();
    });

    it('counts a request passing the same limiter twice only once', async () => {
      const { limiter } = setup();
      const f = Fastify();
      await f.register(tollgate, { limiter, name: 'twice', limit: perSecond(2) });
      await f.register(tollgate, { limiter, name: 'twice', limit: perSecond(2), hook: 'preHandler' });
      f.get('/', async (req) => info(req)?.result.remaining);
      const seen = [];
      for (let i = 0; i < 3; i += 1) {
        const r = await f.inject('/');
        seen.push(r.statusCode === 200 ? r.json() : r.statusCode);
      }
      assert.deepEqual(seen, [1, 0, 429]);
      await f.close();
    });

    it('runs in preParsing and leaves the body intact', async () => {
      const { limiter } = setup();
      const f = await app({ limiter, limit: perSecond(1), hook: 'preParsing' }, (f) => f.post('/', async (req) => req.body));
      const r = await f.inject({ method: 'POST', url: '/', payload: { hello: 'world' } });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), { hello: 'world' });
      assert.equal((await f.inject({ method: 'POST', url: '/', payload: { a: 1 } })).statusCode, 429);
      await f.close();
    });

    it('passes an invalid cost to the Fastify error handler', async () => {
      const f = await app(
        { limit: perSecond(1), cost: () => -1 },
        (f) => {
          f.setErrorHandler(async (error: Error & { code?: string }, _req, reply) => reply.code(503).send({ code: error.code }));
          f.get('/', async () => 'ok');
        },
      );
      const r = await f.inject('/');
      assert.equal(r.statusCode, 503);
      assert.deepEqual(r.json(), { code: 'ERR_INVALID_COST' });
      await f.close();
    });
  });
}

describe('Fastify plugin when the store fails', () => {
  it('answers 503 problem+json with a generic detail by default and lets requests through with failOpen', async () => {
    const client = new Redis({ port: await freePort(), host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    const store = new RedisStore({ client });
    const hooks = new RecordingHooks();
    const strict = Fastify();
    await strict.register(tollgate, { store, limit: perSecond(1), hooks });
    strict.get('/', async () => 'ok');
    const failed = await strict.inject('/');
    assert.equal(failed.statusCode, 503);
    assert.match(String(failed.headers['content-type']), /^application\/problem\+json/);
    assert.doesNotMatch(failed.body, /ECONNREFUSED|127\.0\.0\.1|Redis/);
    assert.equal(failed.json().detail, 'The rate limiter could not check this request right now; try again later.');
    const lenient = Fastify();
    await lenient.register(tollgate, { store, limit: perSecond(1), failOpen: true, hooks });
    lenient.get('/', async () => 'ok');
    const r = await lenient.inject('/');
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers.ratelimit, undefined);
    assert.deepEqual(hooks.events, [['error', 'default'], ['error', 'default']]);
    await strict.close();
    await lenient.close();
    client.disconnect();
  });
});
