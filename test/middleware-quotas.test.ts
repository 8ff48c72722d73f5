/**
 * Calendar quotas and late costs in the HTTP adapters (issue 14), on Express
 * and Fastify, in-process and on Redis: a quota beside a rate limit in a
 * policy; `RateLimit-Policy` gives a quota's amount as `q` and its current
 * window's length as `w`; `RateLimit`'s `t` and `Retry-After` count to the
 * window's end; the problem body names the quota; `req.rateLimit.settle(n)`
 * gives back or charges what a handler learns it really cost, once.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import express, { type Request } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { Limiter } from '../src/limiter.js';
import { perMinute, perSecond } from '../src/limits.js';
import { quota } from '../src/quotas.js';
import { rateLimit } from '../middleware/express.js';
import { tollgate } from '../middleware/fastify.js';
import type { RateLimitInfo } from '../middleware/types.js';
import { type Listening, TestClock, backends, listen, parseRateLimitField } from './helpers/http.js';

const all = await backends();
after(async () => {
  for (const b of all) await b.stop();
});

/** Seconds (rounded up) from the test clock to the end of its UTC hour: a quota(n, 'hour') window's `t`. */
function toHourEnd(clock: TestClock): number {
  const hourUs = 3_600_000_000;
  return Math.ceil((hourUs - (clock.us % hourUs)) / 1_000_000);
}

const hourly = quota(3, 'hour');

for (const backend of all) {
  describe(`HTTP quotas and settle (${backend.kind} store)`, () => {
    const servers: Listening[] = [];
    const limiters: Limiter[] = [];
    afterEach(async () => {
      while (servers.length > 0) await servers.pop()?.close();
      while (limiters.length > 0) await limiters.pop()?.store.close();
    });
    const setup = () => {
      const clock = new TestClock();
      const limiter = new Limiter({ store: backend.store(clock) });
      limiters.push(limiter);
      return { clock, limiter };
    };

    it('Express: a quota beside a rate limit: q and the window as w, t and Retry-After to its end, 429 naming it', async () => {
      const { clock, limiter } = setup();
      const app = express();
      app.use(rateLimit({ limiter, limits: { burst: perSecond(5), hourly } }));
      app.get('/', (_req, res) => void res.end('ok'));
      const server = await listen(app);
      servers.push(server);
      const t = toHourEnd(clock);
      for (let i = 0; i < 3; i += 1) {
        const r = await fetch(server.url);
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        assert.deepEqual(parseRateLimitField(r.headers.get('ratelimit-policy')), [
          { name: 'burst', params: { q: 5, w: 1 } },
          { name: 'hourly', params: { q: 3, w: 3600 } },
        ]);
        assert.deepEqual(parseRateLimitField(r.headers.get('ratelimit')), [
          { name: 'burst', params: { r: 4 - i, t: 1 } },
          { name: 'hourly', params: { r: 2 - i, t } },
        ]);
      }
      const denied = await fetch(server.url);
      assert.equal(denied.status, 429);
      assert.equal(denied.headers.get('retry-after'), String(t));
      const body = (await denied.json()) as { violatedPolicies: unknown[] };
      assert.deepEqual(body.violatedPolicies, [{ name: 'hourly', quota: 3, window: 3600, retryAfter: t }]);
    });

    it('Express: req.rateLimit.settle(n) gives back the unused estimate, once', async () => {
      const { limiter } = setup();
      const tokens = perMinute(100);
      const app = express();
      app.use(rateLimit({ limiter, limit: tokens, cost: 40 }));
      const settled: unknown[] = [];
      app.get('/', async (req: Request, res) => {
        const r = req.rateLimit as RateLimitInfo;
        settled.push(await r.settle(5));
        settled.push(await r.settle(5).catch((e: { code: string }) => e.code));
        res.json(r);
      });
      const server = await listen(app);
      servers.push(server);
      const first = await fetch(server.url);
      const info = (await first.json()) as RateLimitInfo;
      assert.equal(info.result.remaining, 60);
      assert.equal('settle' in info, false, 'settle is not serialized');
      assert.deepEqual(settled.map((s) => (typeof s === 'string' ? s : (s as { refunded: number }).refunded)), [35, 'ERR_SETTLE']);
      // 40 taken, 35 given back: the second request sees 95 - 40 = 55.
      const second = await fetch(server.url);
      assert.deepEqual(parseRateLimitField(second.headers.get('ratelimit'))[0]?.params.r, 55);
      await second.arrayBuffer();
    });

    it('Fastify: a quota in the policy, and request.rateLimit.settle() charging the excess per limit', async () => {
      const { clock, limiter } = setup();
      const f = Fastify();
      await f.register(tollgate, { limiter, limits: { tpm: perMinute(1000), hourly: quota(500, 'hour') }, cost: 100 });
      f.get('/', async (req: FastifyRequest) => {
        const r = req.rateLimit as RateLimitInfo;
        return r.settle([250, 150]); // 150 more tokens per minute, 50 more this hour
      });
      await f.ready();
      const t = toHourEnd(clock);
      const r1 = await f.inject('/');
      assert.equal(r1.statusCode, 200);
      assert.deepEqual(parseRateLimitField(r1.headers['ratelimit-policy'] as string), [
        { name: 'tpm', params: { q: 1000, w: 60 } },
        { name: 'hourly', params: { q: 500, w: 3600 } },
      ]);
      assert.deepEqual(parseRateLimitField(r1.headers.ratelimit as string)[1], { name: 'hourly', params: { r: 400, t } });
      const s = r1.json() as { charged: number; items: { charged: number; remaining: number }[] };
      assert.deepEqual(s.items.map((i) => [i.charged, i.remaining]), [[150, 750], [50, 350]]);
      const r2 = await f.inject('/');
      assert.deepEqual(parseRateLimitField(r2.headers.ratelimit as string)[1], { name: 'hourly', params: { r: 250, t } });
      await f.close();
    });
  });
}
