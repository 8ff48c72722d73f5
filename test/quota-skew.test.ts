/**
 * Clock skew and quota windows (issue 14): two app servers whose clocks are
 * 2 s apart agree on the window of a check near a window boundary, because
 * Redis's clock picks it among the windows each client sends. Both when the
 * server is just past the boundary (the slow client still thinks it is the
 * old window) and just before it (the fast client thinks it is the new one).
 * A client off by more than a window gets a store error and writes nothing.
 *
 * Windows here are 10 s long and placed around the server's current time
 * (a quota's calendar windows are hours at the shortest); the mechanism is
 * the same. Each scenario leaves the clients 600 ms of slack to fire after
 * the server's time was read, and is retried (bounded) if they took longer.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { useRedis } from './helpers/redis-server.js';
import { type Worker, startWorker, withTimeout } from './helpers/worker.js';

const WORKER = fileURLToPath(new URL('./helpers/skew-worker.ts', import.meta.url));
const W = 10_000_000;

interface Report {
  clientWindow: number;
  serverNow?: number;
  window?: number;
  used?: number;
  error?: string;
}

describe('quota windows under client clock skew', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const redis = useRedis();
  const workers: Worker<Report>[] = [];
  let first = true;

  async function ask(w: Worker<Report>, origin: number, key: string): Promise<Report> {
    const reply = first ? w.report : w.next();
    w.child.stdin.write(`go ${origin} ${key}\n`);
    return withTimeout(reply, 10_000, 'a worker check');
  }

  async function serverNow(): Promise<number> {
    const [sec, usec] = (await redis.shared.time()).map(Number) as [number, number];
    return sec * 1_000_000 + usec;
  }

  /** Runs both clients against a boundary at `offset` µs from the server's now; undefined when they were too slow. */
  async function scenario(offset: number, key: string): Promise<{ slow: Report; fast: Report; boundary: number } | undefined> {
    const [slow, fast] = workers as [Worker<Report>, Worker<Report>];
    const boundary = (await serverNow()) + offset;
    const origin = boundary - 5 * W;
    const reports = await Promise.all([ask(slow, origin, key), ask(fast, origin, key)]);
    first = false;
    const [a, b] = reports;
    assert.ok(a.error === undefined && b.error === undefined, `${a.error ?? ''} ${b.error ?? ''}`);
    const late = (a.serverNow as number) - (boundary - offset) >= 600_000 || (b.serverNow as number) - (boundary - offset) >= 600_000;
    return late ? undefined : { slow: a, fast: b, boundary };
  }

  it('two clients 2 s apart agree on the window at a boundary: the server clock decides', { timeout: 60_000 }, async () => {
    for (const skew of [-1000, 1000]) workers.push(startWorker<Report>(WORKER, [String(redis.port), String(skew), String(W)]));
    children.push(...workers.map((w) => w.child));
    await withTimeout(Promise.all(workers.map((w) => w.ready)), 30_000, 'starting the workers');

    // The server is 400 ms past the boundary: the slow client's clock is still before it.
    let past: Awaited<ReturnType<typeof scenario>>;
    for (let attempt = 0; attempt < 3 && past === undefined; attempt += 1) past = await scenario(-400_000, `after${attempt}`);
    assert.ok(past, 'the clients fired within 600 ms of reading the server time in one of 3 attempts');
    assert.equal(past.slow.clientWindow, past.boundary - W, 'the slow client alone would pick the old window');
    assert.equal(past.fast.clientWindow, past.boundary);
    assert.equal(past.slow.window, past.boundary, 'the server put the slow client in the new window');
    assert.equal(past.fast.window, past.boundary);
    assert.deepEqual([past.slow.used, past.fast.used].sort(), [1, 2], 'both units counted in the one window');

    // The server is 600 ms before the boundary: the fast client's clock is already past it.
    let before: Awaited<ReturnType<typeof scenario>>;
    for (let attempt = 0; attempt < 3 && before === undefined; attempt += 1) before = await scenario(600_000, `before${attempt}`);
    assert.ok(before, 'the clients fired within 600 ms of reading the server time in one of 3 attempts');
    assert.equal(before.slow.clientWindow, before.boundary - W);
    assert.equal(before.fast.clientWindow, before.boundary, 'the fast client alone would pick the new window');
    assert.equal(before.slow.window, before.boundary - W);
    assert.equal(before.fast.window, before.boundary - W, 'the server kept the fast client in the old window');
    assert.deepEqual([before.slow.used, before.fast.used].sort(), [1, 2]);
  });

  it('a client whose clock is off by more than a window gets a store error and writes nothing', { timeout: 60_000 }, async () => {
    const far = startWorker<Report>(WORKER, [String(redis.port), String(25_000), String(W)]);
    children.push(far.child);
    await withTimeout(far.ready, 30_000, 'starting the worker');
    const origin = (await serverNow()) - 5 * W;
    far.child.stdin.write(`go ${origin} far\n`);
    const report = await withTimeout(far.report, 10_000, 'the check');
    assert.match(String(report.error), /^ERR_STORE: .*outside the quota windows sent/);
    assert.equal(await redis.shared.exists('skew:far'), 0);
  });
});
