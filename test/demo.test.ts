/**
 * `npm run demo` (examples/demo.ts), run as a user runs it: with --no-traffic
 * it serves `/` with valid RateLimit/RateLimit-Policy fields and `/metrics`
 * with tollgate's metrics; the traffic phase, run non-interactively, prints
 * per-second and total counts that add up (and match /metrics); with
 * REDIS_URL and --workers 2, two processes share the limits in a harness
 * Redis. Ctrl-C (SIGINT) always exits 0.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { describe, test } from 'node:test';
import { type RunningProgram, runProgram, sumSamples } from './helpers/child.js';
import { type Tally, type TrafficReport, emptyTally } from '../examples/demo/traffic.js';
import { LiveView } from '../examples/demo/view.js';
import { callsOf } from './helpers/commandstats.js';
import { parseRateLimitField } from './helpers/http.js';
import { freePort, useRedis } from './helpers/redis-server.js';

function startDemo(args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningProgram {
  return runProgram('examples/demo.ts', args, env);
}

interface Counts {
  allowed: number;
  client: number;
  plan: number;
}

const ROW = /^\s*(total|\d+s)\s+(\w+) \((\w+)\)\s+(\d+) allowed\s+(\d+) denied \(client\)\s+(\d+) denied \(plan\)(.*)$/gm;

/** The per-second rows and the totals of a traffic report, per tenant. */
function parseReport(out: string): { seconds: Map<string, Counts[]>; totals: Map<string, Counts & { sent: number; rest: string }> } {
  const seconds = new Map<string, Counts[]>();
  const totals = new Map<string, Counts & { sent: number; rest: string }>();
  for (const m of out.matchAll(ROW)) {
    const [, when = '', tenant = '', , a = '', c = '', p = '', rest = ''] = m;
    const counts = { allowed: Number(a), client: Number(c), plan: Number(p) };
    if (when === 'total') totals.set(tenant, { ...counts, sent: Number(/of (\d+) sent/.exec(rest)?.[1]), rest });
    else seconds.set(tenant, [...(seconds.get(tenant) ?? []), counts]);
  }
  return { seconds, totals };
}

function checkReport(out: string, durationS: number): Map<string, Counts & { sent: number; rest: string }> {
  const { seconds, totals } = parseReport(out);
  assert.deepEqual([...totals.keys()].sort(), ['acme', 'initech'], out);
  for (const [tenant, total] of totals) {
    const rows = seconds.get(tenant) ?? [];
    assert.equal(rows.length, durationS, `${tenant}: one row per second\n${out}`);
    const sum = rows.reduce((s, r) => ({ allowed: s.allowed + r.allowed, client: s.client + r.client, plan: s.plan + r.plan }), { allowed: 0, client: 0, plan: 0 });
    assert.deepEqual(sum, { allowed: total.allowed, client: total.client, plan: total.plan }, `${tenant}: the seconds add up to the total`);
    assert.equal(total.allowed + total.client + total.plan, total.sent, `${tenant}: every request sent was allowed or denied`);
    assert.ok(total.sent > 0 && total.allowed > 0);
  }
  return totals;
}

describe('npm run demo', () => {
  test('--no-traffic --port N: / carries valid rate-limit fields, /metrics serves tollgate metrics, SIGINT exits 0', async () => {
    const port = await freePort();
    const demo = startDemo(['--no-traffic', '--port', String(port)]);
    try {
      await demo.waitFor(/Serving \(Ctrl-C to stop\)/);
      assert.match(demo.output(), new RegExp(`http://127\\.0\\.0\\.1:${port}/metrics`));
      assert.doesNotMatch(demo.output(), /Traffic:/);

      const anonymous = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(anonymous.status, 200);
      assert.deepEqual(parseRateLimitField(anonymous.headers.get('ratelimit-policy')), [{ name: 'client', params: { q: 5, w: 1 } }]);

      const tenant = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-api-key': 'initech-1' } });
      assert.equal(tenant.status, 200);
      assert.deepEqual(parseRateLimitField(tenant.headers.get('ratelimit-policy')), [
        { name: 'client', params: { q: 8, w: 1 } },
        { name: 'tenant', params: { q: 10, w: 1 } },
      ]);
      const fields = parseRateLimitField(tenant.headers.get('ratelimit'));
      assert.deepEqual(fields.map((f) => [f.name, f.params.r]), [['client', 7], ['tenant', 9]]);
      assert.deepEqual(await tenant.json(), { hello: 'initech', plan: 'free', remaining: 7, worker: 'main' });

      const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await scrape.text();
      assert.equal(sumSamples(text, 'tollgate_http_requests_total', 'tollgate_http_result="allowed"'), 2, text);
      assert.equal(sumSamples(text, 'tollgate_checks_total', 'tollgate_check_outcome="allowed"'), 2, text);
      assert.match(text, /^tollgate_check_duration_count\{/m);
    } finally {
      assert.equal(await demo.interrupt(), 0, demo.output());
    }
    assert.match(demo.output(), /stopped/);
  });

  test('the traffic phase, not on a TTY: per-second lines, totals that add up and match /metrics, one set of headers, one 429 body', async () => {
    const demo = startDemo(['--port', '0', '--duration', '2']);
    try {
      const [, port] = await demo.waitFor(/listening\s+http:\/\/127\.0\.0\.1:(\d+)\//);
      await demo.waitFor(/Serving \(Ctrl-C to stop\)/);
      const out = demo.output();
      assert.ok(!out.includes(`${String.fromCharCode(27)}[`), 'plain lines, no cursor movement, when stdout is not a TTY');
      const totals = checkReport(out, 2);
      assert.match(out, /ratelimit-policy: "client";q=8;w=1, "tenant";q=\d+;w=1/);
      assert.match(out, /ratelimit: "client";r=\d+;t=\d+, "tenant";r=\d+;t=\d+/);
      const body = /One 429 answered \(application\/problem\+json\):\n([\s\S]*?)\n\nServing/.exec(out)?.[1];
      const denied = [...totals.values()].reduce((s, t) => s + t.client + t.plan, 0);
      if (denied > 0) assert.equal((JSON.parse(body ?? '') as { status: number }).status, 429);

      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const allowed = [...totals.values()].reduce((s, t) => s + t.allowed, 0);
      assert.equal(sumSamples(text, 'tollgate_http_requests_total', 'tollgate_http_result="allowed"'), allowed, text);
      assert.equal(sumSamples(text, 'tollgate_http_requests_total', 'tollgate_http_result="denied"'), denied, text);
    } finally {
      assert.equal(await demo.interrupt(), 0, demo.output());
    }
  });

  test('--workers 2 without REDIS_URL says why it cannot run', async () => {
    const demo = startDemo(['--workers', '2', '--port', '0']);
    const code = await demo.exited;
    assert.equal(code, 1);
    assert.match(demo.output(), /--workers 2 needs REDIS_URL/);
  });

  test('a port in use: exit 1 with a hint', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const demo = startDemo(['--no-traffic', '--port', String((taken.address() as AddressInfo).port)]);
      assert.equal(await demo.exited, 1, demo.output());
      assert.match(demo.output(), /EADDRINUSE[\s\S]*try --port 0/);
    } finally {
      taken.close();
    }
  });

  test('a bad flag prints the usage', async () => {
    const demo = startDemo(['--port', 'x']);
    const code = await demo.exited;
    assert.equal(code, 2);
    assert.match(demo.output(), /--port must be an integer from 0 to 65535, got "x"\nusage: npm run demo/);
  });

  describe('on Redis', () => {
    const redis = useRedis();
    test('REDIS_URL and --workers 2: two server processes answer, sharing the limits in Redis', async () => {
      const demo = startDemo(['--port', '0', '--duration', '2', '--workers', '2'], { REDIS_URL: redis.url });
      try {
        await demo.waitFor(/Serving \(Ctrl-C to stop\)/, 90_000);
        const out = demo.output();
        assert.match(out, /decided by\s+Redis at redis:\/\/127\.0\.0\.1:\d+ .*shared by 2 server processes/);
        const totals = checkReport(out, 2);
        const served = [...totals.values()].map((t) => t.rest).join(' ');
        assert.match(served, /w1:\d+/, 'worker 1 answered');
        assert.match(served, /w2:\d+/, 'worker 2 answered');
        const scripts = (await callsOf(redis.shared, 'evalsha')) + (await callsOf(redis.shared, 'eval'));
        assert.ok(scripts > 0, 'the checks ran in the harness Redis');
      } finally {
        assert.equal(await demo.interrupt(), 0, demo.output());
      }
      assert.equal(demo.output().match(/stopped/g)?.length, 3, 'the primary and both workers stopped');
    });
  });
});

describe('the live view', () => {
  const ESC = String.fromCharCode(27);
  const tally = (allowed: number, deniedClient: number, deniedTenant: number): Tally => ({ ...emptyTally(), sent: allowed + deniedClient + deniedTenant, allowed, deniedClient, deniedTenant });
  const report = (): TrafficReport => ({
    seconds: [{ a: tally(5, 1, 0) }, { a: tally(3, 0, 2) }],
    pending: [0, 1],
    totals: { a: tally(8, 1, 2) },
    sampleHeaders: {},
    sampleDenial: undefined,
  });
  const sink = (tty: boolean): { out: NodeJS.WriteStream; text: () => string } => {
    let text = '';
    const out = { isTTY: tty, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
    return { out, text: () => text };
  };

  test('on a TTY it redraws the same lines in place, the open second marked "now"', () => {
    const { out, text } = sink(true);
    const view = new LiveView(out, { a: 'a (free)' }, 10);
    const r = report();
    view.update(r, 500);
    assert.match(text(), / now {2}a \(free\) +5 allowed +1 denied \(client\) +0 denied \(plan\) {2}█{15}░{3} *$/m);
    view.update(r, 1100);
    const second = text().split(`${ESC}[1A`)[1] ?? '';
    assert.match(second, /^\S*\s+1s {2}a \(free\)/, 'moved up over the one line drawn, then redrew it final');
    assert.match(second, / now {2}a \(free\) +3 allowed/);
    view.update(r, 2000, true);
    const last = text().split(`${ESC}[2A`)[1] ?? '';
    assert.match(last, / 1s {2}a/);
    assert.match(last, / 2s {2}a \(free\) +3 allowed +0 denied \(client\) +2 denied \(plan\)/);
  });

  test('elsewhere it prints each second once, when its every answer is in', () => {
    const { out, text } = sink(false);
    const view = new LiveView(out, { a: 'a (free)' }, 10);
    const r = report();
    view.update(r, 500);
    assert.equal(text(), '', 'the first second is not over');
    view.update(r, 2500);
    assert.equal(text().split('\n').filter(Boolean).length, 1, 'the second second still waits for an answer');
    r.pending[1] = 0;
    view.update(r, 2600);
    view.update(r, 2700, true);
    const lines = text().split('\n').filter(Boolean);
    assert.deepEqual(lines.map((l) => l.trim().split(/\s+/)[0]), ['1s', '2s']);
    assert.ok(!text().includes(ESC));
  });
});
