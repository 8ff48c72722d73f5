/**
 * Atomicity (issues 2, 14): 1,000 concurrent `allow` calls from several
 * processes on one key with burst 100 (perHour(100), so nothing refills
 * during the test) allow exactly 100; 1,600 on one monthly quota of 1,000
 * grant exactly 1,000. Workers are released together through a stdin
 * barrier so their calls really interleave at the server.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { useRedis } from './helpers/redis-server.js';
import { type Worker, startWorker, withTimeout } from './helpers/worker.js';

const WORKER = fileURLToPath(new URL('./helpers/atomicity-worker.ts', import.meta.url));
const PROCESSES = 4;
const TOTAL = 1000;

interface WorkerReport {
  allowed: number;
  denied: number;
  granted: number;
  badRetry: number;
}

/** An atomicity worker on the harness Redis (`quota`: on a monthly quota of 1,000 instead of perHour(100)). */
const startAtomicityWorker = (port: number, key: string, count: number, mode = ''): Worker<WorkerReport> =>
  startWorker(WORKER, [String(port), key, String(count), ...(mode ? [mode] : [])]);

describe('atomicity across processes', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  // Registered before useRedis(), so the workers are killed before the server stops.
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const redis = useRedis();

  it(`${TOTAL} concurrent allows from ${PROCESSES} processes on one key with burst 100 allow exactly 100`, { timeout: 40_000 }, async () => {
    const key = 'shared';
    const workers = Array.from({ length: PROCESSES }, () => startAtomicityWorker(redis.port, key, TOTAL / PROCESSES));
    children.push(...workers.map((w) => w.child));
    await withTimeout(Promise.all(workers.map((w) => w.ready)), 30_000, 'starting the workers');
    for (const w of workers) w.child.stdin.write('go\n');
    const reports = await withTimeout(Promise.all(workers.map((w) => w.report)), 30_000, 'the concurrent calls');

    const allowed = reports.reduce((s, r) => s + r.allowed, 0);
    assert.equal(allowed, 100, `allowed per process: ${reports.map((r) => r.allowed).join(', ')}`);
    assert.equal(reports.reduce((s, r) => s + r.granted, 0), 100);
    assert.equal(reports.reduce((s, r) => s + r.allowed + r.denied, 0), TOTAL);
    assert.equal(reports.reduce((s, r) => s + r.badRetry, 0), 0, 'every denial carries a finite positive retryAfter');

    // The stored TAT holds exactly 100 emission intervals (36 s each) ahead of the first call,
    // less at most the few ms of real time the burst of calls took: the bucket is empty.
    const client = redis.client();
    const [sec, usec] = (await client.time()).map(Number) as [number, number];
    const tat = Number(await client.get(`atomic:${key}`));
    const ahead = tat - (sec * 1_000_000 + usec);
    assert.ok(ahead > 99 * 36_000_000 && ahead <= 100 * 36_000_000, `TAT is ${ahead} µs ahead of now`);
  });

  it(`1,600 concurrent allows from ${PROCESSES} processes on one monthly quota of 1,000 grant exactly 1,000`, { timeout: 40_000 }, async () => {
    const key = 'tenant';
    const workers = Array.from({ length: PROCESSES }, () => startAtomicityWorker(redis.port, key, 400, 'quota'));
    children.push(...workers.map((w) => w.child));
    await withTimeout(Promise.all(workers.map((w) => w.ready)), 30_000, 'starting the workers');
    for (const w of workers) w.child.stdin.write('go\n');
    const reports = await withTimeout(Promise.all(workers.map((w) => w.report)), 30_000, 'the concurrent calls');

    assert.equal(reports.reduce((s, r) => s + r.allowed, 0), 1000, `allowed per process: ${reports.map((r) => r.allowed).join(', ')}`);
    assert.equal(reports.reduce((s, r) => s + r.granted, 0), 1000);
    assert.equal(reports.reduce((s, r) => s + r.denied, 0), 600);
    assert.equal(reports.reduce((s, r) => s + r.badRetry, 0), 0, 'every denial carries a finite positive retryAfter');
    const stored = String(await redis.client().get(`atomic:${key}|quota:month`));
    assert.match(stored, /^\d+:1000$/, 'the window count is exactly 1,000');
  });
});
