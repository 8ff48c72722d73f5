/**
 * The Express middleware over real HTTP (a listening server on loopback and
 * Node's fetch), against the in-process store and a real Redis started by
 * the harness. Stores run on a test clock so time moves only when told.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import express, { type Express, type Request } from 'express';
import { Redis } from 'ioredis';
import type { LimiterError } from '../src/errors.js';
import { Limiter } from '../src/limiter.js';
import { type Limit, perMinute, perSecond } from '../src/limits.js';
import { RedisStore } from '../src/redis-store.js';
import { rateLimit } from '../middleware/express.js';
import type { RateLimitInfo } from '../middleware/types.js';
import { type Listening, RecordingHooks, TestClock, backends, listen, parseRateLimitField } from './helpers/http.js';
import { freePort } from './helpers/redis-server.js';

const all = await backends();
after(async () => {
  for (const b of all) await b.stop();
});

const info = (req: Request): RateLimitInfo | null => req.rateLimit ?? null;

for (const backend of all) {
  describe(`Express middleware (${backend.kind} store)`, () => {
    const servers: Listening[] = [];
    afterEach(async () => {
      while (servers.length > 0) await servers.pop()?.close();
    });
    async function serve(setup: (app: Express) => void, host?: string): Promise<(path?: string, headers?: Record<string, string>) => Promise<Response>> {
      const app = express();
      setup(app);
      app.use((error: Error, _req: Request, res: express.Response, _next: express.NextFunction) => void res.status(500).end(error.message));
      const server = await listen(app, host);
      servers.push(server);
      return (path = '/', headers = {}) => fetch(server.url + path, { headers });
    }
    const setup = () => {
      const clock = new TestClock();
      return { clock, limiter: new Limiter({ store: backend.store(clock) }) };
    };

    it('sets valid RateLimit headers when allowed and answers 429 problem+json when denied', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, limit: perSecond(2), legacyHeaders: true }));
        app.get('/', (req, res) => res.json(info(req)));
      });
      const r1 = await get();
      assert.equal(r1.status, 200);
      assert.deepEqual(parseRateLimitField(r1.headers.get('ratelimit-policy')), [{ name: 'default', params: { q: 2, w: 1 } }]);
      assert.deepEqual(parseRateLimitField(r1.headers.get('ratelimit')), [{ name: 'default', params: { r: 1, t: 1 } }]);
      assert.equal(r1.headers.get('x-ratelimit-limit'), '2');
      assert.equal(r1.headers.get('x-ratelimit-remaining'), '1');
      assert.equal(r1.headers.get('x-ratelimit-reset'), '1');
      assert.equal(r1.headers.get('retry-after'), null);
      const body1 = (await r1.json()) as RateLimitInfo;
      assert.equal(body1.allowed, true);
      assert.equal(body1.policy, 'default');
      assert.equal(body1.result.remaining, 1);

      const r2 = await get();
      assert.equal(r2.status, 200);
      assert.deepEqual(parseRateLimitField(r2.headers.get('ratelimit')), [{ name: 'default', params: { r: 0, t: 1 } }]);
      await r2.arrayBuffer();

      const r3 = await get();
      assert.equal(r3.status, 429);
      assert.equal(r3.headers.get('content-type'), 'application/problem+json');
      assert.equal(r3.headers.get('retry-after'), '1');
      assert.deepEqual(parseRateLimitField(r3.headers.get('ratelimit')), [{ name: 'default', params: { r: 0, t: 1 } }]);
      assert.deepEqual(await r3.json(), {
        type: 'about:blank',
        title: 'Too Many Requests',
        status: 429,
        detail: 'Rate limit "default" exceeded; retry in 1 second.',
        retryAfter: 1,
        violatedPolicies: [{ name: 'default', quota: 2, window: 1, retryAfter: 1 }],
      });
    });

    it('Retry-After is never earlier than the real retry time', async () => {
      const { clock, limiter } = setup();
      const limits: Limit[] = [
        { rate: 3, period: 2500 },
        { rate: 1, period: 1500 },
        { rate: 7, period: 10_001, burst: 2 },
        { rate: 10, period: 999 },
      ];
      let captured: RateLimitInfo | undefined;
      const get = await serve((app) => {
        limits.forEach((limit, i) => {
          app.get(`/${i}`, rateLimit({ limiter, name: `r${i}`, limit, handler: (_req, res, inf) => void ((captured = inf), res.status(429).end()) }), (_req, res) => res.end());
        });
      });
      for (let i = 0; i < limits.length; i += 1) {
        const burst = limits[i]?.burst ?? limits[i]?.rate ?? 0;
        for (let n = 0; n < burst; n += 1) assert.equal((await get(`/${i}`)).status, 200);
        const denied = await get(`/${i}`);
        assert.equal(denied.status, 429);
        const header = Number(denied.headers.get('retry-after'));
        const real = (captured as RateLimitInfo).result.retryAfter;
        assert.ok(real > 0 && header * 1000 >= real, `Retry-After ${header}s must cover ${real} ms`);
        const start = clock.us;
        clock.advance(real - 1);
        assert.equal((await get(`/${i}`)).status, 429, 'one ms before the retry time it is still denied');
        clock.us = start + header * 1_000_000;
        assert.equal((await get(`/${i}`)).status, 200, 'at Retry-After it passes');
      }
    });

    it('a compound policy denies on the tighter limit and takes nothing from the other', async () => {
      const { clock, limiter } = setup();
      const get = await serve((app) => {
        app.use(
          rateLimit({
            limiter,
            limits: {
              user: { limit: perSecond(2), key: (req) => req.get('x-user') },
              tenant: { limit: perMinute(3), key: (req) => req.get('x-tenant') },
            },
            handler: (req, res) => void res.status(429).json(info(req)),
          }),
        );
        app.get('/', (req, res) => res.json(info(req)));
      });
      const h = (user: string) => ({ 'x-user': user, 'x-tenant': 't1' });
      assert.equal((await get('/', h('u1'))).status, 200);
      assert.equal((await get('/', h('u1'))).status, 200);
      const byUser = await get('/', h('u1'));
      assert.equal(byUser.status, 429);
      assert.deepEqual(
        parseRateLimitField(byUser.headers.get('ratelimit-policy')).map((i) => [i.name, i.params]),
        [['user', { q: 2, w: 1 }], ['tenant', { q: 3, w: 60 }]],
      );
      const denied = (await byUser.json()) as RateLimitInfo;
      assert.deepEqual(denied.result.items?.map((i) => i.allowed), [false, true]);
      const [userLimit, tenantLimit] = denied.limits;
      assert.ok(userLimit && tenantLimit);
      assert.equal((await limiter.peek(tenantLimit.key, tenantLimit.limit as Limit)).remaining, 1, 'the denied request took nothing from the tenant');

      clock.advance(1000);
      assert.equal((await get('/', h('u2'))).status, 200);
      const byTenant = await get('/', h('u3'));
      assert.equal(byTenant.status, 429);
      const denied2 = (await byTenant.json()) as RateLimitInfo;
      assert.deepEqual(denied2.result.items?.map((i) => i.allowed), [true, false]);
      const u3 = denied2.limits[0];
      assert.ok(u3);
      assert.equal((await limiter.peek(u3.key, u3.limit as Limit)).remaining, 2, 'the denied request took nothing from the user');
      assert.ok(Number(byTenant.headers.get('retry-after')) * 1000 >= denied2.result.retryAfter);
    });

    it('per-route limits have their own buckets, and skip exempts routes', async () => {
      const { limiter } = setup();
      const hooks = new RecordingHooks();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, name: 'global', limit: perSecond(5), skip: (req) => req.path === '/health', hooks }));
        app.get('/login', rateLimit({ limiter, name: 'login', limit: perMinute(1) }), (_req, res) => res.end('in'));
        app.get('/health', (req, res) => res.json(info(req)));
        app.get('/', (_req, res) => res.end('home'));
      });
      for (let i = 0; i < 8; i += 1) {
        const r = await get('/health');
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('ratelimit'), null);
        assert.equal(await r.json(), null);
      }
      assert.equal((await get('/login')).status, 200);
      const second = await get('/login');
      assert.equal(second.status, 429);
      // Both limiters applied to /login, so both policies are listed, in the order they applied.
      assert.deepEqual(parseRateLimitField(second.headers.get('ratelimit-policy')), [
        { name: 'global', params: { q: 5, w: 1 } },
        { name: 'login', params: { q: 1, w: 60 } },
      ]);
      const home = await get('/');
      assert.equal(home.status, 200);
      assert.deepEqual(parseRateLimitField(home.headers.get('ratelimit')), [{ name: 'global', params: { r: 2, t: 1 } }]);
      assert.equal(second.headers.get('retry-after'), '60');
      assert.equal(hooks.events.filter(([r]) => r === 'skipped').length, 8);
    });

    it('resolves per-tenant plans, caching each tenant policy, with tenants never sharing buckets', async () => {
      const { limiter } = setup();
      const plans: Record<string, { plan: string; rate: number }> = { acme: { plan: 'free', rate: 2 }, globex: { plan: 'pro', rate: 5 }, initech: { plan: 'pro', rate: 5 } };
      let calls = 0;
      const hooks = new RecordingHooks();
      const get = await serve((app) => {
        app.use(
          rateLimit({
            limiter,
            hooks,
            policyKey: (req) => req.get('x-tenant'),
            policy: async (req) => {
              calls += 1;
              await new Promise((r) => setTimeout(r, 5));
              const tenant = req.get('x-tenant');
              const plan = tenant === undefined ? undefined : plans[tenant];
              if (tenant === undefined || plan === undefined) return null;
              return {
                name: plan.plan,
                scope: tenant,
                limits: { user: { limit: perSecond(plan.rate), key: (r: Request) => r.get('x-user') }, tenant: perMinute(100) },
                key: () => 'all',
              };
            },
          }),
        );
        app.get('/', (_req, res) => res.end());
      });
      const statuses = async (tenant: string, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i += 1) out.push((await get('/', { 'x-tenant': tenant, 'x-user': 'u1' })).status);
        return out;
      };
      assert.deepEqual(await statuses('acme', 3), [200, 200, 429]);
      assert.deepEqual(await statuses('globex', 6), [200, 200, 200, 200, 200, 429]);
      const pro = await get('/', { 'x-tenant': 'globex', 'x-user': 'u2' });
      assert.deepEqual(parseRateLimitField(pro.headers.get('ratelimit-policy'))[0], { name: 'user', params: { q: 5, w: 1 } });
      assert.equal(calls, 2, 'one resolver call per tenant');
      const burst = await Promise.all([1, 2, 3].map(() => get('/', { 'x-tenant': 'initech', 'x-user': 'u1' })));
      assert.deepEqual(burst.map((r) => r.status), [200, 200, 200]);
      assert.equal(calls, 3, 'concurrent misses share one resolver call');
      const anonymous = await get('/');
      assert.equal(anonymous.status, 200);
      assert.equal(anonymous.headers.get('ratelimit'), null);
      assert.deepEqual(new Set(hooks.events.map(([, p]) => p)), new Set(['free', 'pro', 'default']));
    });

    it('ignores a spoofed X-Forwarded-For unless trust proxy is configured, and honours it when it is', async () => {
      const { limiter } = setup();
      const direct = await serve((app) => {
        app.use(rateLimit({ limiter, name: 'direct', limit: perSecond(2) }));
        app.get('/', (_req, res) => res.end());
      });
      const spoofed = [];
      for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) spoofed.push((await direct('/', { 'x-forwarded-for': ip })).status);
      assert.deepEqual(spoofed, [200, 200, 429], 'all share the socket address bucket');

      const proxied = await serve((app) => {
        app.set('trust proxy', 'loopback');
        app.use(rateLimit({ limiter, name: 'proxied', limit: perSecond(2) }));
        app.get('/', (_req, res) => res.end());
      });
      const honoured = [];
      for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.1', '203.0.113.1']) honoured.push((await proxied('/', { 'x-forwarded-for': ip })).status);
      assert.deepEqual(honoured, [200, 200, 200, 200, 429]);
    });

    it('two IPv6 addresses in one /64 share a bucket', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.set('trust proxy', 'loopback');
        app.use(rateLimit({ limiter, limit: perSecond(2) }));
        app.get('/', (_req, res) => res.end());
      });
      const status = async (ip: string) => (await get('/', { 'x-forwarded-for': ip })).status;
      assert.equal(await status('2001:db8:1:2::1'), 200);
      assert.equal(await status('2001:db8:1:2:ffff:ffff:ffff:fffe'), 200);
      assert.equal(await status('2001:db8:1:2::7'), 429);
      assert.equal(await status('2001:db8:1:3::1'), 200, 'another /64 has its own bucket');
      assert.equal(await status('::ffff:198.51.100.4'), 200);
      assert.equal(await status('198.51.100.4'), 200);
      assert.equal(await status('198.51.100.4'), 429, 'IPv4-mapped IPv6 and IPv4 are one client');
    });

    it('keys a direct IPv6 client (a server on ::1) by its /64', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, limit: perSecond(2) }));
        app.get('/', (req, res) => res.json(info(req)));
      }, '::1');
      const body = (await (await get()).json()) as RateLimitInfo;
      assert.match(body.limits[0]?.key ?? '', /\{0:0:0:0\/64\}$/);
    });

    it('shadow mode never returns 429 but still sets headers and records shadow denials', async () => {
      const { limiter } = setup();
      const hooks = new RecordingHooks();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, name: 'canary', limit: perSecond(1), shadow: true, hooks }));
        app.get('/', (req, res) => res.json(info(req)));
      });
      const seen: boolean[] = [];
      for (let i = 0; i < 5; i += 1) {
        const r = await get();
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('retry-after'), null);
        assert.deepEqual(parseRateLimitField(r.headers.get('ratelimit')), [{ name: 'canary', params: { r: 0, t: 1 } }]);
        const body = (await r.json()) as RateLimitInfo;
        assert.equal(body.shadow, true);
        seen.push(body.allowed);
      }
      assert.deepEqual(seen, [true, false, false, false, false]);
      assert.deepEqual(hooks.events, [['allowed', 'canary'], ...Array.from({ length: 4 }, () => ['shadow_denied', 'canary'])]);
    });

    it('counts a request passing the same limiter twice only once', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        const mw = rateLimit({ limiter, name: 'g', limit: perSecond(3) });
        const sameName = rateLimit({ limiter, name: 'g', limit: perSecond(3) });
        const router = express.Router();
        router.use(mw);
        app.use(mw, mw, sameName, router);
        app.get('/', (req, res) => res.json(info(req)?.result.remaining));
      });
      const seen = [];
      for (let i = 0; i < 4; i += 1) {
        const r = await get();
        seen.push(r.status === 200 ? await r.json() : r.status);
      }
      assert.deepEqual(seen, [2, 1, 0, 429]);
    });

    it('allow-listed clients are never limited', async () => {
      const { limiter } = setup();
      const hooks = new RecordingHooks();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, limit: perSecond(1), allowList: ['10.0.0.0/8', '127.0.0.0/8'], hooks }));
        app.get('/', (_req, res) => res.end());
      });
      for (let i = 0; i < 4; i += 1) {
        const r = await get();
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('ratelimit'), null);
      }
      assert.deepEqual(hooks.events, Array.from({ length: 4 }, () => ['skipped', 'default']));
    });

    it('weighs requests by cost, and omits Retry-After when a cost can never pass', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, limit: perSecond(5), cost: (req) => Number(req.get('x-cost') ?? 1) }));
        app.get('/', (_req, res) => res.end());
      });
      const first = await get('/', { 'x-cost': '3' });
      assert.equal(first.status, 200);
      assert.equal(parseRateLimitField(first.headers.get('ratelimit'))[0]?.params.r, 2);
      const second = await get('/', { 'x-cost': '3' });
      assert.equal(second.status, 429);
      assert.equal(second.headers.get('retry-after'), '1');
      await second.arrayBuffer();
      const never = await get('/', { 'x-cost': '6' });
      assert.equal(never.status, 429);
      assert.equal(never.headers.get('retry-after'), null);
      const problem = (await never.json()) as { retryAfter: unknown; detail: string };
      assert.equal(problem.retryAfter, null);
      assert.match(problem.detail, /can never be allowed/);
      const invalid = await get('/', { 'x-cost': '-1' });
      assert.equal(invalid.status, 500, 'an invalid cost is an error for the framework');
    });

    it('header families can be switched off', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.get('/none', rateLimit({ limiter, name: 'a', limit: perSecond(1), standardHeaders: false }), (_req, res) => res.end());
        app.get('/legacy', rateLimit({ limiter, name: 'b', limit: perSecond(1), standardHeaders: false, legacyHeaders: true }), (_req, res) => res.end());
      });
      const none = await get('/none');
      assert.equal(none.headers.get('ratelimit'), null);
      assert.equal(none.headers.get('x-ratelimit-limit'), null);
      const denied = await get('/none');
      assert.equal(denied.status, 429);
      assert.equal(denied.headers.get('retry-after'), '1', 'Retry-After is part of the 429, not of the header families');
      const legacy = await get('/legacy');
      assert.equal(legacy.headers.get('ratelimit-policy'), null);
      assert.equal(legacy.headers.get('x-ratelimit-remaining'), '0');
    });

    it('a limit whose key function returns nothing does not apply', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, limits: { user: { limit: perSecond(1), key: (req) => req.get('x-user') }, ip: perSecond(3) } }));
        app.get('/', (req, res) => res.json(info(req)?.limits.map((l) => l.name)));
      });
      const anon = await get();
      assert.deepEqual(await anon.json(), ['ip']);
      assert.deepEqual(parseRateLimitField(anon.headers.get('ratelimit-policy')), [{ name: 'ip', params: { q: 3, w: 1 } }]);
      const named = await get('/', { 'x-user': 'u' });
      assert.deepEqual(await named.json(), ['user', 'ip']);
      assert.equal(parseRateLimitField(named.headers.get('ratelimit')).length, 2);
    });

    it('passes a rejected handler to Express as ERR_CALLBACK with the original error as cause', async () => {
      const { limiter } = setup();
      const get = await serve((app) => {
        app.use(rateLimit({ limiter, limit: perSecond(1), handler: () => Promise.reject(new Error('boom')) }));
        app.get('/', (_req, res) => res.end());
        app.use((error: LimiterError, _req: Request, res: express.Response, _next: express.NextFunction) =>
          void res.status(418).json({ code: error.code, cause: (error.cause as Error).message }),
        );
      });
      assert.equal((await get()).status, 200);
      const r = await get();
      assert.equal(r.status, 418);
      assert.deepEqual(await r.json(), { code: 'ERR_CALLBACK', cause: 'boom' });
    });
  });
}

describe('Express middleware when the store fails', () => {
  const servers: Listening[] = [];
  afterEach(async () => {
    while (servers.length > 0) await servers.pop()?.close();
  });
  async function deadStore(): Promise<{ store: RedisStore; client: Redis }> {
    const client = new Redis({ port: await freePort(), host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    return { store: new RedisStore({ client }), client };
  }
  async function statusOf(options: Parameters<typeof rateLimit>[0]): Promise<[number, string | null, RateLimitInfo | null]> {
    const app = express();
    app.use(rateLimit(options));
    app.get('/', (req, res) => res.json(info(req)));
    app.use((_e: Error, _req: Request, res: express.Response, _next: express.NextFunction) => void res.status(500).json(null));
    const server = await listen(app);
    servers.push(server);
    const r = await fetch(server.url);
    return [r.status, r.headers.get('ratelimit'), (await r.json()) as RateLimitInfo | null];
  }

  it('answers a store failure with 503 problem+json and a generic detail, the error going to onError', async () => {
    const { store, client } = await deadStore();
    const hooks = new RecordingHooks();
    const errors: LimiterError[] = [];
    const app = express();
    app.use(rateLimit({ store, limit: perSecond(1), hooks, onError: (error) => void errors.push(error) }));
    app.get('/', (_req, res) => res.end('ok'));
    const server = await listen(app);
    servers.push(server);
    const r = await fetch(server.url);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('content-type'), 'application/problem+json');
    assert.equal(r.headers.get('ratelimit'), null);
    const text = await r.text();
    assert.doesNotMatch(text, /ECONNREFUSED|127\.0\.0\.1|Redis|at /);
    assert.deepEqual(JSON.parse(text), {
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The rate limiter could not check this request right now; try again later.',
    });
    assert.deepEqual(hooks.events, [['error', 'default']]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, 'ERR_STORE');
    assert.match(String(errors[0]?.message), /Redis/);
    client.disconnect();
  });

  it('lets the request through with failOpen', async () => {
    const { store, client } = await deadStore();
    const hooks = new RecordingHooks();
    assert.deepEqual(await statusOf({ store, limit: perSecond(1), failOpen: true, hooks }), [200, null, null]);
    assert.deepEqual(hooks.events, [['error', 'default']]);
    client.disconnect();
  });

  it("follows the limiter's failure policy (open allows, closed denies)", async () => {
    const { store, client } = await deadStore();
    const [status, header, body] = await statusOf({ limiter: new Limiter({ store, onStoreError: 'open' }), limit: perSecond(1) });
    assert.equal(status, 200);
    assert.ok(header);
    assert.equal(body?.result.reason, 'open');
    const closed = await statusOf({ limiter: new Limiter({ store, onStoreError: 'closed' }), limit: perSecond(1) });
    assert.equal(closed[0], 429);
    client.disconnect();
  });
});
