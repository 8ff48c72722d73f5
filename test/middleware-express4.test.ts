/**
 * The Express middleware on Express 4 (installed as the `express4` alias):
 * the same middleware, over real HTTP, allows, denies with 429 and the
 * standard headers, exposes req.rateLimit, and uses Express 4's trust-proxy
 * logic for client IPs.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import express4 from 'express4';
import type { Request as ExpressRequest, Response as ExpressResponse } from 'express';
import { Limiter } from '../src/limiter.js';
import { MemoryStore } from '../src/memory-store.js';
import { perMinute } from '../src/limits.js';
import { rateLimit } from '../middleware/express.js';
import { type Listening, listen } from './helpers/http.js';

const servers: Listening[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function serve(trustProxy: boolean, limiter: Limiter): Promise<(headers?: Record<string, string>) => Promise<Response>> {
  const app = express4();
  if (trustProxy) app.set('trust proxy', true);
  app.use(rateLimit({ limiter, limit: perMinute(2) }));
  app.get('/', (req: ExpressRequest, res: ExpressResponse) => {
    res.json({ policy: req.rateLimit?.policy, allowed: req.rateLimit?.allowed });
  });
  const server = await listen(app);
  servers.push(server);
  return (headers = {}) => fetch(`${server.url}/`, { headers });
}

describe('Express 4', () => {
  it('is really Express 4', () => {
    const version = (createRequire(import.meta.url)('express4/package.json') as { version: string }).version;
    assert.match(version, /^4\./);
  });

  it('allows, then denies with 429, Retry-After, standard headers and a problem body', async () => {
    const get = await serve(false, new Limiter({ store: new MemoryStore() }));
    const first = await get();
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), { policy: 'default', allowed: true });
    assert.equal(first.headers.get('ratelimit-policy'), '"default";q=2;w=60');
    assert.match(first.headers.get('ratelimit') ?? '', /^"default";r=1;t=\d+$/);
    assert.equal((await get()).status, 200);
    const denied = await get();
    assert.equal(denied.status, 429);
    assert.equal(denied.headers.get('content-type'), 'application/problem+json');
    const retryAfter = Number(denied.headers.get('retry-after'));
    assert.ok(retryAfter >= 29 && retryAfter <= 30, `Retry-After ${retryAfter}`);
    const body = (await denied.json()) as { status: number; violatedPolicies: { name: string }[] };
    assert.equal(body.status, 429);
    assert.deepEqual(body.violatedPolicies.map((p) => p.name), ['default']);
  });

  it('ignores X-Forwarded-For unless trust proxy is set, and honours it when it is', async () => {
    const untrusted = await serve(false, new Limiter({ store: new MemoryStore() }));
    for (const ip of ['198.51.100.1', '198.51.100.2']) assert.equal((await untrusted({ 'x-forwarded-for': ip })).status, 200);
    assert.equal((await untrusted({ 'x-forwarded-for': '198.51.100.3' })).status, 429, 'spoofed addresses share the real client bucket');

    const trusted = await serve(true, new Limiter({ store: new MemoryStore() }));
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      assert.equal((await trusted({ 'x-forwarded-for': ip })).status, 200, `${ip} has its own bucket behind a trusted proxy`);
    }
  });
});
