/**
 * Soak run (a script, not a test): `npm run soak -- --minutes N` (default 10).
 * Mixed allowed/denied traffic (32 loops, a check each 4 ms) from two
 * limiters (policies `local` and `throw`) over one RedisStore on a throwaway redis-server, which is killed
 * (SIGKILL) and restarted on the same port every minute. Every 10 s it prints
 * RSS, heap, pending checks and the outcome counts of the interval; at the
 * end it stops the traffic and exits non-zero if memory or pending work grew
 * without bound (heap after GC more than 2x + 32 MB its first minute's, RSS
 * more than 2x + 64 MB, pending work above the store's bound, or work still
 * pending once the traffic stopped).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Limiter, LimiterError, RedisStore, perSecond } from '../src/index.js';
import { freePort } from '../test/helpers/redis-server.js';

function minutesArg(): number {
  const i = process.argv.indexOf('--minutes');
  const raw = i >= 0 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith('--minutes='))?.slice(10);
  const n = raw === undefined ? 10 : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--minutes must be a positive number, got ${String(raw)}`);
  return n;
}

function startServer(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
}

async function stopServer(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (bytes: number): number => Math.round(bytes / 1048576);

async function main(): Promise<void> {
  const minutes = minutesArg();
  const port = await freePort();
  let server = startServer(port);
  await sleep(300);
  const MAX_PENDING = 10_000;
  const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, timeout: 500, pool: { maxPending: MAX_PENDING }, onEvent: () => undefined });
  const local = new Limiter({ store, onStoreError: 'local', telemetry: false });
  const strict = new Limiter({ store, telemetry: false });
  // 32 loops, each pausing 4 ms between checks (the soak leaves CPU to others on a shared machine):
  // every other check goes to one of 50 hot keys (denied most of the time at 5/s), the rest to
  // 20,000 cold keys (allowed), so the deny cache and Redis both see steady work.
  const limit = perSecond(5);
  const counts = new Map<string, number>();
  const count = (what: string): void => void counts.set(what, (counts.get(what) ?? 0) + 1);
  let running = true;
  const loops = Array.from({ length: 32 }, async (_, loop) => {
    for (let i = 0; running; i += 1) {
      const key = i % 2 === 0 ? `hot:${(loop + i) % 50}` : `cold:${(loop * 7919 + i * 104729) % 20_000}`;
      const limiter = i % 4 === 0 ? strict : local;
      try {
        const r = await limiter.allow(key, limit);
        count(r.reason ? `${r.reason}:${r.allowed ? 'allowed' : 'denied'}` : r.allowed ? 'allowed' : 'denied');
      } catch (error) {
        count(error instanceof LimiterError ? error.code : 'other');
      }
      await sleep(4);
    }
  });

  const started = performance.now();
  const samples: { rss: number; heap: number; pending: number }[] = [];
  let failed = '';
  console.log(`soak: ${minutes} min, redis-server on port ${port} killed and restarted every minute`);
  console.log('| t (s) | RSS MB | heap MB | pending | allowed | denied | local | ERR_* | breaker | health |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---|---|---|');
  let restarts = 0;
  for (let tick = 1; performance.now() - started < minutes * 60_000; tick += 1) {
    await sleep(10_000);
    if (tick % 6 === 0 && performance.now() - started < minutes * 60_000 - 5_000) {
      await stopServer(server, 'SIGKILL');
      server = startServer(port);
      restarts += 1;
    }
    gc?.();
    const memory = process.memoryUsage();
    const { pending, inFlight } = store.stats;
    const health = store.health();
    samples.push({ rss: memory.rss, heap: memory.heapUsed, pending: pending + inFlight });
    const sum = (prefix: string): number => [...counts].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    const errors = [...counts].filter(([k]) => k.startsWith('ERR_')).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
    console.log(
      `| ${Math.round((performance.now() - started) / 1000)} | ${mb(memory.rss)} | ${mb(memory.heapUsed)} | ${pending + inFlight} | ${counts.get('allowed') ?? 0} | ${counts.get('denied') ?? 0} | ${sum('local:')} | ${errors} | ${health.breaker} | ${health.status} |`,
    );
    counts.clear();
    if (pending + inFlight > MAX_PENDING) failed ||= `pending work ${pending + inFlight} passed the bound ${MAX_PENDING}`;
  }
  running = false;
  await Promise.all(loops);
  await sleep(1000);
  const left = store.stats.pending + store.stats.inFlight;
  if (left !== 0) failed ||= `${left} checks still pending after the traffic stopped`;
  const firstMinute = samples.slice(0, 6);
  const baseHeap = Math.max(...firstMinute.map((s) => s.heap));
  const baseRss = Math.max(...firstMinute.map((s) => s.rss));
  const last = samples.at(-1);
  if (last && last.heap > 2 * baseHeap + 32 * 1048576) failed ||= `heap grew from ${mb(baseHeap)} MB to ${mb(last.heap)} MB`;
  if (last && last.rss > 2 * baseRss + 64 * 1048576) failed ||= `RSS grew from ${mb(baseRss)} MB to ${mb(last.rss)} MB`;
  await store.close();
  await stopServer(server, 'SIGTERM');
  console.log(`restarts: ${restarts}; first-minute peak heap ${mb(baseHeap)} MB, RSS ${mb(baseRss)} MB; last heap ${mb(last?.heap ?? 0)} MB, RSS ${mb(last?.rss ?? 0)} MB; gc ${gc ? 'forced before each sample' : 'not exposed'}`);
  if (failed) {
    console.log(`FAIL: ${failed}`);
    process.exitCode = 1;
  } else {
    console.log('OK: memory and pending work stayed bounded');
  }
}

await main();
