/**
 * Concurrency limits in the HTTP adapters (issue 13), Express and Fastify,
 * in-process store and a real Redis, over real HTTP: the (N+1)-th concurrent
 * request gets 429 with the problem body and no rate-limit field or
 * Retry-After describing it; leases come back when the response finishes,
 * when the handler throws, and when the client disconnects mid-response
 * (in-flight count back to 0 every time); beside a rate limit, the headers
 * describe the rate limit only and a denial of either takes nothing from the other.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import express, { type Request } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { rateLimit } from '../middleware/express.js';
import { tollgate } from '../middleware/fastify.js';
import type { RateLimitInfo, RateLimitOptions } from '../middleware/types.js';
import { concurrency } from '../src/concurrency.js';
import { Limiter } from '../src/limiter.js';
import { perMinute } from '../src/limits.js';
import type { Store } from '../src/store.js';
import { type Backend, TestClock, backends, listen } from './helpers/http.js';

const all = await backends();
after(async () => {
  for (const b of all) await b.stop();
});

/** A gate the slow handlers wait on; `entered` counts handlers that reached it. */
class Gate {
  entered = 0;
  #open: (() => void) | undefined;
  #opened = new Promise<void>((resolve) => (this.#open = resolve));
  wait(): Promise<void> {
    this.entered += 1;
    return this.#opened;
  }
  open(): void {
    this.#open?.();
  }
}

/** Leases held now on `key` (a probe lease is taken and given back). */
async function inFlight(store: Store, key: string): Promise<number> {
  const outcome = await store.evaluate({ mode: 'all', items: [{ kind: 'concurrency', op: 'acquire', key, max: 1_000_000, ttl: 60_000_000, lease: 'probe' }] });
  await store.evaluate({ mode: 'all', items: [{ kind: 'concurrency', op: 'release', key, lease: 'probe' }] });
  const item = outcome.items[0];
  assert.ok(item && 'inFlight' in item);
  return item.inFlight - 1;
}

/** Polls until `key` holds no lease (bounded). */
async function drained(store: Store, key: string): Promise<number> {
  let n = await inFlight(store, key);
  for (let i = 0; i < 100 && n > 0; i += 1) {
    await sleep(20);
    n = await inFlight(store, key);
  }
  return n;
}

/** Starts a GET that the client aborts once the server has entered the handler. */
function abortedGet(url: string, gate: Gate): Promise<void> {
  return new Promise((resolve) => {
    const before = gate.entered;
    const req = httpRequest(`${url}/slow`);
    req.on('error', () => resolve());
    req.end();
    const poll = setInterval(() => {
      if (gate.entered > before) {
        clearInterval(poll);
        req.destroy();
        resolve();
      }
    }, 5);
  });
}

type Server = { url: string; close(): Promise<void> };
type Make = (limiter: Limiter, options: Omit<RateLimitOptions<unknown, unknown>, 'limiter'>, gate: Gate) => Promise<Server>;

/** Routes: /slow waits on the gate, /boom throws, /fast answers. Each returns the storage key of its first limit. */
const makeExpress: Make = async (limiter, options, gate) => {
  const app = express();
  app.use(rateLimit({ limiter, ...(options as RateLimitOptions<Request, express.Response>) }));
  const key = (req: Request) => (req.rateLimit as RateLimitInfo).limits[0]?.key;
  app.get('/slow', async (req, res) => {
    await gate.wait();
    res.json({ key: key(req) });
  });
  app.get('/boom', () => {
    throw new Error('handler failed');
  });
  app.get('/fast', (req, res) => void res.json({ key: key(req) }));
  app.use((_error: unknown, _req: Request, res: express.Response, _next: express.NextFunction) => void res.status(500).end('boom'));
  return listen(app);
};

const makeFastify: Make = async (limiter, options, gate) => {
  const f = Fastify();
  await f.register(tollgate, { limiter, ...(options as object) });
  const key = (req: FastifyRequest) => (req.rateLimit as RateLimitInfo).limits[0]?.key;
  f.get('/slow', async (req) => {
    await gate.wait();
    return { key: key(req) };
  });
  f.get('/boom', async () => {
    throw new Error('handler failed');
  });
  f.get('/fast', async (req) => ({ key: key(req) }));
  await f.listen({ port: 0, host: '127.0.0.1' });
  const { port } = f.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => f.close() };
};

for (const [framework, make] of [
  ['Express', makeExpress],
  ['Fastify', makeFastify],
] as const) {
  for (const backend of all as Backend[]) {
    describe(`${framework}: a concurrency limit (${backend.kind} store)`, () => {
      it('answers the (N+1)-th concurrent request 429 with no rate-limit field; leases come back after a finish, a throw and a disconnect', { timeout: 30_000 }, async () => {
        const store = backend.store(new TestClock()) as Store;
        // A real clock here: the store must see leases expire only after their ttl, never during the test.
        const limiter = new Limiter({ store });
        const gate = new Gate();
        const server = await make(limiter, { name: 'reports', limit: concurrency(2, { ttl: 60_000 }), key: () => 'tenant-1' }, gate);
        try {
          const slow = [fetch(`${server.url}/slow`), fetch(`${server.url}/slow`)];
          while (gate.entered < 2) await sleep(5);
          const third = await fetch(`${server.url}/fast`);
          assert.equal(third.status, 429);
          assert.match(String(third.headers.get('content-type')), /^application\/problem\+json/);
          for (const field of ['ratelimit', 'ratelimit-policy', 'retry-after', 'x-ratelimit-limit']) assert.equal(third.headers.get(field), null, `no ${field} for a concurrency limit`);
          const problem = (await third.json()) as { status: number; retryAfter: unknown; violatedPolicies: { name: string; quota: number; retryAfter: unknown }[]; detail: string };
          assert.equal(problem.status, 429);
          assert.equal(problem.retryAfter, null);
          assert.deepEqual(problem.violatedPolicies.map((v) => [v.name, v.quota, v.retryAfter]), [['reports', 2, null]]);
          assert.match(problem.detail, /too many requests in progress/);
          gate.open();
          const bodies = await Promise.all(slow.map(async (p) => (await (await p).json()) as { key: string }));
          const key = bodies[0]?.key as string;
          assert.ok(key);
          assert.equal(await drained(store, key), 0, 'finished responses gave their leases back');

          const boom = await fetch(`${server.url}/boom`);
          assert.equal(boom.status, 500);
          await boom.text();
          assert.equal(await drained(store, key), 0, 'a throwing handler gave its lease back');

          const stuck = new Gate();
          const server2 = await make(limiter, { name: 'reports', limit: concurrency(2, { ttl: 60_000 }), key: () => 'tenant-1' }, stuck);
          try {
            await abortedGet(server2.url, stuck);
            await abortedGet(server2.url, stuck);
            assert.equal(await drained(store, key), 0, 'clients that went away gave their leases back');
            const again = await fetch(`${server2.url}/fast`);
            assert.equal(again.status, 200);
            await again.text();
          } finally {
            stuck.open();
            await server2.close();
          }
        } finally {
          gate.open();
          await server.close();
          await store.close();
        }
      });

      it('beside a rate limit: headers describe the rate limit only, and a denial of either takes nothing from the other', { timeout: 30_000 }, async () => {
        const store = backend.store(new TestClock()) as Store;
        const limiter = new Limiter({ store });
        const gate = new Gate();
        const server = await make(limiter, { name: 'api', limits: { user: perMinute(3), slots: concurrency(1, { ttl: 60_000 }) }, key: () => 'u1' }, gate);
        try {
          const slow = fetch(`${server.url}/slow`);
          while (gate.entered < 1) await sleep(5);
          // The slot is taken: denied by the concurrency limit; the rate limit is not charged.
          const busy = await fetch(`${server.url}/fast`);
          assert.equal(busy.status, 429);
          assert.match(String(busy.headers.get('ratelimit-policy')), /^"user";q=3;w=60$/);
          assert.match(String(busy.headers.get('ratelimit')), /^"user";r=2;t=\d+$/, 'one unit taken (by the slow request), none by the denied one');
          assert.equal(busy.headers.get('retry-after'), null);
          await busy.text();
          gate.open();
          const { key } = (await (await slow).json()) as { key: string };
          for (const expected of [1, 0]) {
            const ok = await fetch(`${server.url}/fast`);
            assert.equal(ok.status, 200);
            assert.match(String(ok.headers.get('ratelimit')), new RegExp(`^"user";r=${expected};t=\\d+$`));
            await ok.text();
          }
          // The rate limit is spent: denied by it, with Retry-After; no lease is taken.
          const spent = await fetch(`${server.url}/fast`);
          assert.equal(spent.status, 429);
          assert.ok(Number(spent.headers.get('retry-after')) > 0);
          await spent.text();
          const slotsKey = key.replace(/user/, 'slots');
          assert.notEqual(slotsKey, key);
          assert.equal(await drained(store, slotsKey), 0);
        } finally {
          gate.open();
          await server.close();
          await store.close();
        }
      });
    });
  }
}
