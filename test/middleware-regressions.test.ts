/**
 * Regression tests for issue 9, each on Express and on Fastify, against the
 * in-process store and a real Redis: user functions that throw or reject
 * (never a crash, each called once), stacked limiters that each apply,
 * scope-wide tenant quotas, draft-10 `t`/`w`, 503 on store failures,
 * Fastify 404s, the trust-proxy warning, the quota-exceeded problem type and
 * the standard header formats.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ErrorCodes, LimiterError } from '../src/errors.js';
import { Limiter } from '../src/limiter.js';
import { RedisStore } from '../src/redis-store.js';
import { perDay, perHour, perMinute, perSecond } from '../src/limits.js';
import type { Check, CheckOutcome, Store } from '../src/store.js';
import { headerKey } from '../middleware/keys.js';
import type { TollgateWarning } from '../middleware/types.js';
import { type AppSpec, type TestApp, frameworks } from './helpers/http-apps.js';
import { TestClock, backends, parseRateLimitField, parseSfList } from './helpers/http.js';
import { freePort } from './helpers/redis-server.js';

const all = await backends();
after(async () => {
  for (const b of all) await b.stop();
});

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
before(() => process.on('unhandledRejection', onUnhandled));
after(() => process.off('unhandledRejection', onUnhandled));

/** Lets queued microtasks and timers run, so a stray rejection would be seen. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** A store whose every call fails as a store failure, with a known retry time. */
class FailingStore implements Store {
  calls = 0;
  evaluate(_check: Check): Promise<CheckOutcome> {
    this.calls += 1;
    return Promise.reject(new LimiterError(ErrorCodes.STORE, 'Redis is unreachable: connect ECONNREFUSED 127.0.0.1:1', { retryAfter: 1500 }));
  }
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}

for (const backend of all) {
  for (const framework of frameworks) {
    describe(`issue 9 regressions: ${framework.name}, ${backend.kind} store`, () => {
      const apps: TestApp[] = [];
      afterEach(async () => {
        while (apps.length > 0) await apps.pop()?.close();
      });
      const limiterOnClock = () => new Limiter({ store: backend.store(new TestClock()) });
      const build = async (spec: AppSpec) => {
        const app = await framework.build(spec);
        apps.push(app);
        return app;
      };

      it('a rejecting async key never crashes the process: the framework gets ERR_CALLBACK, and the key runs once per request', async () => {
        let calls = 0;
        const app = await build({
          layers: [{ options: { limiter: limiterOnClock(), limit: perSecond(5), key: async () => { calls += 1; throw new Error('db down'); } } }],
          routes: ['/'],
        });
        for (let i = 0; i < 3; i += 1) {
          const r = await app.send('/');
          assert.equal(r.status, 500);
          assert.deepEqual(JSON.parse(r.body), { code: 'ERR_CALLBACK', cause: 'db down' });
        }
        await settle();
        assert.equal(calls, 3);
        assert.deepEqual(unhandled, []);
      });

      it('every user function (key, cost, policy, policyKey, skip) runs exactly once per request, async or not', async () => {
        const counts = { key: 0, cost: 0, policy: 0, policyKey: 0, skip: 0 };
        const limiter = limiterOnClock();
        const app = await build({
          layers: [
            {
              options: {
                limiter,
                policy: async () => {
                  counts.policy += 1;
                  // Slow limits: a Redis key's TTL runs in real time while the test clock stands still.
                  return { limits: { a: perHour(100), b: perDay(1000) } };
                },
                policyKey: () => {
                  counts.policyKey += 1;
                  return undefined; // no caching: the resolver runs on every request
                },
                key: async () => {
                  counts.key += 1;
                  return 'k';
                },
                cost: async () => {
                  counts.cost += 1;
                  return 2;
                },
                skip: async () => {
                  counts.skip += 1;
                  return false;
                },
              },
            },
          ],
          routes: ['/'],
        });
        for (let i = 0; i < 4; i += 1) assert.equal((await app.send('/')).status, 200);
        assert.deepEqual(counts, { key: 4, cost: 4, policy: 4, policyKey: 4, skip: 4 });
        const r = await app.send('/');
        assert.deepEqual(parseRateLimitField(r.header('ratelimit')).map((i) => i.params.r), [90, 990]);
      });

      it('throwing or rejecting cost, policy, policyKey and skip each reach the error path typed; failOpen lets them through', async () => {
        const boom = () => {
          throw new Error('sync boom');
        };
        const reject = async () => {
          throw new Error('async boom');
        };
        const cases: [string, Record<string, unknown>][] = [
          ['cost (sync)', { limit: perSecond(5), cost: boom }],
          ['cost (async)', { limit: perSecond(5), cost: reject }],
          ['policy', { policy: reject }],
          ['policyKey', { policy: () => ({ limit: perSecond(5) }), policyKey: boom }],
          ['skip', { limit: perSecond(5), skip: reject }],
          ['key (sync)', { limit: perSecond(5), key: boom }],
        ];
        for (const [label, options] of cases) {
          const errors: LimiterError[] = [];
          const strict = await build({ layers: [{ options: { limiter: limiterOnClock(), ...options, onError: (e) => void errors.push(e) } }], routes: ['/'] });
          const r = await strict.send('/');
          assert.equal(r.status, 500, label);
          const body = JSON.parse(r.body) as { code: string; cause: string };
          assert.equal(body.code, 'ERR_CALLBACK', label);
          assert.match(body.cause, /boom/, label);
          assert.equal(errors.length, 1, label);
          const lenient = await build({ layers: [{ options: { limiter: limiterOnClock(), ...options, failOpen: true } }], routes: ['/'] });
          const passed = await lenient.send('/');
          assert.equal(passed.status, 200, label);
          assert.equal(passed.body, 'null', label);
        }
        await settle();
        assert.deepEqual(unhandled, []);
      });

      it('a second, stricter limiter applies too, and both policies are listed in the headers', async () => {
        const limiter = limiterOnClock();
        const app = await build({
          layers: [{ options: { limiter, limit: perMinute(100) } }, { prefix: '/login', options: { limiter, limit: perMinute(2) } }],
          routes: ['/login', '/'],
        });
        const statuses: number[] = [];
        let last = await app.send('/login', { method: 'POST' });
        statuses.push(last.status);
        const first = last;
        for (let i = 0; i < 4; i += 1) {
          last = await app.send('/login', { method: 'POST' });
          statuses.push(last.status);
        }
        assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
        const policies = parseRateLimitField(first.header('ratelimit-policy'));
        assert.deepEqual(policies.map((p) => p.params), [{ q: 100, w: 60 }, { q: 2, w: 60 }]);
        assert.deepEqual(parseRateLimitField(first.header('ratelimit')).map((p) => p.params.r), [99, 1]);
        // The outer limiter counted every request, the denied ones included.
        assert.deepEqual(parseRateLimitField(last.header('ratelimit')).map((p) => p.params.r), [95, 0]);
        const home = await app.send('/');
        assert.equal(home.status, 200);
        assert.deepEqual(parseRateLimitField(home.header('ratelimit')).map((p) => p.params.r), [94]);
      });

      it('middlewares sharing an explicit name share buckets and count a request once', async () => {
        const limiter = limiterOnClock();
        const app = await build({
          layers: [{ options: { limiter, name: 'shared', limit: perMinute(3) } }, { prefix: '/x', options: { limiter, name: 'shared', limit: perMinute(3) } }],
          routes: ['/x'],
        });
        const r = await app.send('/x');
        assert.deepEqual(parseRateLimitField(r.header('ratelimit')), [{ name: 'shared', params: { r: 2, t: 20 } }]);
      });

      it("a tenant policy with a scope and no key is one bucket for the whole tenant, whatever the client's IP", async () => {
        const tenants: Record<string, { id: string; plan: string; perMinute: number }> = {
          'key-gold': { id: 't1', plan: 'gold', perMinute: 5 },
          'key-free': { id: 't2', plan: 'free', perMinute: 2 },
        };
        const limiter = limiterOnClock();
        const app = await build({
          trust: 'loopback',
          layers: [
            {
              options: {
                limiter,
                policy: async (req: { headers: Record<string, string | string[] | undefined> }) => {
                  const tenant = tenants[String(req.headers['x-api-key'])];
                  return tenant === undefined ? null : { name: tenant.plan, scope: tenant.id, limit: perMinute(tenant.perMinute) };
                },
                policyKey: (req: { headers: Record<string, string | string[] | undefined> }) => String(req.headers['x-api-key']),
              },
            },
          ],
          routes: ['/'],
        });
        const ips = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
        let allowed = 0;
        for (let round = 0; round < 3; round += 1) {
          for (const ip of ips) {
            const r = await app.send('/', { headers: { 'x-api-key': 'key-gold', 'x-forwarded-for': ip } });
            if (r.status === 200) allowed += 1;
          }
        }
        assert.equal(allowed, 5, 'three IPs of one gold tenant share its 5 per minute');
        // Another tenant has its own bucket.
        const free = await app.send('/', { headers: { 'x-api-key': 'key-free', 'x-forwarded-for': ips[0] as string } });
        assert.equal(free.status, 200);
        assert.deepEqual(parseRateLimitField(free.header('ratelimit')), [{ name: 'free', params: { r: 1, t: 30 } }]);
      });

      it('a scoped policy with a key has a bucket per key within the scope', async () => {
        const limiter = limiterOnClock();
        const app = await build({
          layers: [{ options: { limiter, policy: () => ({ scope: 'tenant-1', limit: perMinute(2), key: headerKey('x-user', { fallback: null }) }) } }],
          routes: ['/'],
        });
        const statuses = [];
        for (const user of ['a', 'a', 'a', 'b', 'b']) statuses.push((await app.send('/', { headers: { 'x-user': user } })).status);
        assert.deepEqual(statuses, [200, 200, 429, 200, 200]);
      });

      it('t is the time until one more unit (draft-10), w comes from the limit as given, Retry-After matches t for cost 1', async () => {
        const limiter = limiterOnClock();
        const app = await build({ layers: [{ options: { limiter, limit: perMinute(10), cost: 6 } }], routes: ['/'] });
        const r = await app.send('/');
        assert.equal(r.status, 200);
        assert.deepEqual(parseRateLimitField(r.header('ratelimit')), [{ name: 'default', params: { r: 4, t: 6 } }]);
        const info = JSON.parse(r.body) as { result: { resetAfter: number } };
        assert.equal(info.result.resetAfter, 36_000, 'time until full stays in req.rateLimit.resetAfter');
        const denied = await app.send('/');
        assert.equal(denied.status, 429);
        assert.equal(denied.header('retry-after'), '12', 'cost 6 with 4 left: two more units, 12 s');
        const sevenApp = await build({ layers: [{ options: { limiter, limit: perMinute(7), name: 'seven' } }], routes: ['/'] });
        const seven = await sevenApp.send('/');
        assert.deepEqual(parseRateLimitField(seven.header('ratelimit-policy')), [{ name: 'seven', params: { q: 7, w: 60 } }]);
        // T = 8.571428 s, rounded to µs: one unit returns after ceil(8.57) = 9 s.
        assert.deepEqual(parseRateLimitField(seven.header('ratelimit')), [{ name: 'seven', params: { r: 6, t: 9 } }]);
      });

      it('Retry-After on a cost-1 denial equals t', async () => {
        const limiter = limiterOnClock();
        const app = await build({ layers: [{ options: { limiter, limit: perMinute(3) } }], routes: ['/'] });
        for (let i = 0; i < 3; i += 1) await app.send('/');
        const denied = await app.send('/');
        assert.equal(denied.status, 429);
        const [state] = parseRateLimitField(denied.header('ratelimit'));
        assert.deepEqual(state?.params, { r: 0, t: 20 });
        assert.equal(denied.header('retry-after'), '20');
      });

      it('a store failure answers 503 problem+json with a generic detail and the known Retry-After, never the error text', async () => {
        const store = new FailingStore();
        const errors: LimiterError[] = [];
        const app = await build({ layers: [{ options: { limiter: new Limiter({ store, telemetry: false }), limit: perSecond(5), onError: (e) => void errors.push(e) } }], routes: ['/'] });
        const r = await app.send('/');
        assert.equal(r.status, 503);
        assert.match(String(r.header('content-type')), /^application\/problem\+json/);
        assert.equal(r.header('retry-after'), '2');
        assert.doesNotMatch(r.body, /ECONNREFUSED|127\.0\.0\.1|Redis|stack/);
        assert.equal((JSON.parse(r.body) as { status: number }).status, 503);
        assert.equal(errors[0]?.code, 'ERR_STORE');
        assert.match(String(errors[0]?.message), /ECONNREFUSED/, 'the full error stays available to hooks');
      });

      it('with Redis down and the breaker open, the 503 carries Retry-After until the next probe', async () => {
        const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, breaker: { failures: 1, openFor: 5_000 }, onEvent: () => undefined });
        try {
          const app = await build({ layers: [{ options: { limiter: new Limiter({ store, telemetry: false }), limit: perSecond(5), onError: () => undefined } }], routes: ['/'] });
          const first = await app.send('/');
          assert.equal(first.status, 503);
          const second = await app.send('/');
          assert.equal(second.status, 503);
          assert.equal(second.header('retry-after'), '5');
          assert.doesNotMatch(second.body, /ECONNREFUSED|127\.0\.0\.1|Redis|circuit/);
        } finally {
          await store.close();
        }
      });

      it('the quota-exceeded problem type carries violated-policies; about:blank does not', async () => {
        const limiter = limiterOnClock();
        const type = 'https://iana.org/assignments/http-problem-types#quota-exceeded';
        const app = await build({
          layers: [{ options: { limiter, problemType: type, limits: { user: perSecond(1), tenant: perMinute(100) }, key: () => 'u' } }, { prefix: '/plain', options: { limiter, name: 'plain', limit: perSecond(1) } }],
          routes: ['/', '/plain'],
        });
        await app.send('/');
        const denied = JSON.parse((await app.send('/')).body) as Record<string, unknown>;
        assert.equal(denied.type, type);
        assert.deepEqual(denied['violated-policies'], ['user']);
        const plainApp = await build({ layers: [{ options: { limiter: limiterOnClock(), limit: perSecond(1), key: () => 'p' } }], routes: ['/'] });
        await plainApp.send('/');
        const plain = JSON.parse((await plainApp.send('/')).body) as Record<string, unknown>;
        assert.equal(plain.type, 'about:blank');
        assert.equal('violated-policies' in plain, false);
      });

      it('standardHeaders: draft-7, draft-8, draft-10 and false each follow their draft', async () => {
        const limiter = limiterOnClock();
        const app = await build({
          layers: [
            { prefix: '/d7', options: { limiter, name: 'd7', limit: perMinute(10), cost: 6, standardHeaders: 'draft-7' } },
            { prefix: '/d8', options: { limiter, name: 'd8', limit: perMinute(10), cost: 6, standardHeaders: 'draft-8' } },
            { prefix: '/d10', options: { limiter, name: 'd10', limit: perMinute(10), cost: 6, standardHeaders: 'draft-10' } },
            { prefix: '/none', options: { limiter, name: 'none', limit: perMinute(10), standardHeaders: false } },
          ],
          routes: ['/d7', '/d8', '/d10', '/none'],
        });
        const d7 = await app.send('/d7');
        // draft-7: RateLimit is a dictionary; RateLimit-Policy a list of integers with a w parameter.
        assert.equal(d7.header('ratelimit'), 'limit=10, remaining=4, reset=36');
        assert.deepEqual(parseSfList(String(d7.header('ratelimit-policy'))), [{ value: 10, params: [['w', 60]] }]);
        const d8 = await app.send('/d8');
        // draft-8: named list items; t is the time until the quota resets.
        assert.deepEqual(parseRateLimitField(d8.header('ratelimit')), [{ name: 'd8', params: { r: 4, t: 36 } }]);
        assert.deepEqual(parseRateLimitField(d8.header('ratelimit-policy')), [{ name: 'd8', params: { q: 10, w: 60 } }]);
        const d10 = await app.send('/d10');
        assert.deepEqual(parseRateLimitField(d10.header('ratelimit')), [{ name: 'd10', params: { r: 4, t: 6 } }]);
        const none = await app.send('/none');
        assert.equal(none.header('ratelimit'), null);
        assert.equal(none.header('ratelimit-policy'), null);
      });

      it('warns once when the framework trusts every proxy and the key is the client IP, never with a restricted setting', async () => {
        const warnings: TollgateWarning[] = [];
        const onWarning = (w: TollgateWarning) => void warnings.push(w);
        const open = await build({ trust: 'all', layers: [{ options: { limiter: limiterOnClock(), limit: perSecond(100), onWarning } }], routes: ['/'] });
        for (let i = 0; i < 3; i += 1) await open.send('/');
        assert.equal(warnings.length, 1);
        assert.equal(warnings[0]?.code, 'WARN_PERMISSIVE_TRUST_PROXY');
        const restricted = await build({ trust: 'loopback', layers: [{ options: { limiter: limiterOnClock(), limit: perSecond(100), onWarning } }], routes: ['/'] });
        await restricted.send('/');
        const notIp = await build({ trust: 'all', layers: [{ options: { limiter: limiterOnClock(), limit: perSecond(100), key: () => 'k', onWarning } }], routes: ['/'] });
        await notIp.send('/');
        assert.equal(warnings.length, 1);
      });
    });
  }

  describe(`issue 9 regressions: Fastify not-found handler, ${backend.kind} store`, () => {
    it('limits requests that match no route by default, and not with notFound: false', async () => {
      const fastify = frameworks.find((f) => f.name === 'fastify');
      assert.ok(fastify);
      const limited = await fastify.build({ layers: [{ options: { limiter: new Limiter({ store: backend.store(new TestClock()) }), limit: perMinute(5) } }], routes: ['/'] });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i += 1) statuses.push((await limited.send(`/scan-${i}`)).status);
      assert.deepEqual(statuses, [404, 404, 404, 404, 404, 429, 429]);
      assert.equal((await limited.send('/')).status, 429, 'the scans took from the same bucket as the routes');
      await limited.close();
      const open = await fastify.build({ layers: [{ options: { limiter: new Limiter({ store: backend.store(new TestClock()) }), limit: perMinute(5), notFound: false } }], routes: ['/'] });
      for (let i = 0; i < 7; i += 1) assert.equal((await open.send(`/scan-${i}`)).status, 404);
      await open.close();
    });
  });
}
