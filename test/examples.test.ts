/**
 * Every example in examples/ (besides the demo, in demo.test.ts) run with
 * its one command, as its header says, on a free port: the servers answer,
 * limit, and stop on SIGINT with exit 0; the outgoing-call example finishes
 * by itself with no 429 from its strict upstream; the OpenTelemetry one
 * serves tollgate's metrics to a scrape.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunningProgram, runProgram, sumSamples } from './helpers/child.js';
import { freePort } from './helpers/redis-server.js';

async function stop(r: RunningProgram): Promise<void> {
  assert.equal(await r.interrupt(), 0, r.output());
}

/** Status codes of `n` requests sent one after another. */
async function statuses(url: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

describe('examples', () => {
  test('express-minimal.ts: 5 per second per client address', async () => {
    const port = await freePort();
    const r = runProgram('examples/express-minimal.ts', [], { PORT: String(port) });
    try {
      await r.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+\//);
      // 12 back-to-back requests: all would pass only if they took 1.4 s (7 refills at 5/s).
      const seen = await statuses(`http://127.0.0.1:${port}/`, 12);
      assert.deepEqual(seen.slice(0, 5), [200, 200, 200, 200, 200]);
      assert.ok(seen.slice(5).includes(429), `a burst of 12 meets a 429: ${seen.join(' ')}`);
    } finally {
      await stop(r);
    }
  });

  test('fastify-minimal.ts: every route limited, /search stricter, /health exempt', async () => {
    const port = await freePort();
    const r = runProgram('examples/fastify-minimal.ts', [], { PORT: String(port) });
    try {
      await r.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+\//);
      const search = await statuses(`http://127.0.0.1:${port}/search`, 8);
      assert.deepEqual(search.slice(0, 2), [200, 200]);
      assert.ok(search.slice(2).includes(429), `search: ${search.join(' ')}`);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
      assert.equal(health.headers.get('ratelimit'), null, 'exempt: no rate-limit fields');
      assert.match((await fetch(`http://127.0.0.1:${port}/`)).headers.get('ratelimit-policy') ?? '', /q=5;w=1/);
    } finally {
      await stop(r);
    }
  });

  test('tenant-plans.ts: unknown keys 401, the free tenant shares 5 per minute across its keys', async () => {
    const port = await freePort();
    const r = runProgram('examples/tenant-plans.ts', [], { PORT: String(port) });
    try {
      await r.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+\//);
      const url = `http://127.0.0.1:${port}/`;
      assert.deepEqual(await statuses(url, 1), [401]);
      // Two keys of one tenant, 2 requests each (within the per-key burst of 2): 4 of the tenant's 5.
      assert.deepEqual(await statuses(url, 2, { 'x-api-key': 'free-key-1' }), [200, 200]);
      assert.deepEqual(await statuses(url, 2, { 'x-api-key': 'free-key-2' }), [200, 200]);
      await new Promise((resolve) => setTimeout(resolve, 600)); // key 1's per-key bucket refills one unit (2/s)
      const more = await statuses(url, 2, { 'x-api-key': 'free-key-1' });
      assert.equal(more[0], 200, "the tenant's fifth request");
      assert.equal(more[1], 429, 'the tenant quota is spent, whichever key asks');
      const denied = await fetch(url, { headers: { 'x-api-key': 'free-key-2' } });
      assert.equal(denied.status, 429);
      assert.match(JSON.stringify(await denied.json()), /"name":"tenant"/);
      assert.deepEqual(await statuses(url, 2, { 'x-api-key': 'pro-key-1' }), [200, 200], 'another tenant is untouched');
    } finally {
      await stop(r);
    }
  });

  test('outgoing-wait.ts: 20 calls to a strict upstream, none answered 429, and it exits by itself', async () => {
    const r = runProgram('examples/outgoing-wait.ts');
    assert.equal(await r.exited, 0, r.output());
    assert.match(r.output(), /^20 calls in [\d.]+ s: 20 answered 200, 0 answered 429$/m);
  });

  test('otel-prometheus/server.ts: the scrape shows tollgate checks and HTTP requests', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const r = runProgram('examples/otel-prometheus/server.ts', [], { PORT: String(port), METRICS_PORT: String(metricsPort) });
    try {
      await r.waitFor(/metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
      const seen = await statuses(`http://127.0.0.1:${port}/`, 8);
      const allowed = seen.filter((s) => s === 200).length;
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const total = (result: string): number => sumSamples(text, 'tollgate_http_requests_total', `tollgate_http_result="${result}"`);
      assert.equal(total('allowed'), allowed, text);
      assert.equal(total('denied'), 8 - allowed, text);
      assert.match(text, /^tollgate_checks_total\{/m);
    } finally {
      await stop(r);
    }
  });
});
