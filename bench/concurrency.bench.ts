/**
 * Concurrency-limit benchmark (issue 13): acquire+release pairs per second
 * at C=64 (64 loops, each taking a lease and giving it back, one after the
 * other), tollgate's Limiter.acquire/release over a RedisStore against
 * redis-semaphore's counting Semaphore (tryAcquire/release), both on one
 * ioredis connection to the same throwaway Redis, with the same limit and
 * lease lifetime and no heartbeat (redis-semaphore's refresh timer off, as
 * tollgate renews only on extend()). Nothing is denied in either layout, so
 * neither pays for retries: 1,000 keys (uniform) with at most 10 leases per
 * key, and one hot key with at most 64. Also Redis CPU (INFO cpu) and Node
 * CPU per pair. Variants run interleaved in rotating order per round;
 * figures are medians of the rounds, ratios taken within a round.
 *
 * Flags: --quick (under a minute), --rounds=N, --source. Writes bench/results/concurrency.{json,md,svg}
 * (the chart: pairs per second of every round, with tollgate's ratio in that round).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Semaphore } from 'redis-semaphore';
import { loadTollgate } from './lib/build.js';
import { measuredWindow, startBenchRedis } from './lib/redis.js';
import { median, ratio } from './lib/stats.js';
import { concurrencyChartSvg } from './lib/concurrency-chart.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be an integer >= 1, got ${rounds}`);
const sliceMs = quick ? 1000 : 3000;
const warmMs = quick ? 300 : 800;
const CONCURRENCY = 64;
const TTL_MS = 30_000;

type Layout = 'keys' | 'hot';
type Contender = 'tollgate' | 'redis-semaphore';
const LAYOUTS: Record<Layout, { label: string; max: number; key: () => string }> = {
  keys: { label: '1,000 keys, at most 10 leases each', max: 10, key: () => `tenant-${(Math.random() * 1000) | 0}` },
  hot: { label: 'one key, at most 64 leases', max: 64, key: () => 'hot' },
};

const { module: tollgate, note } = await loadTollgate(args.includes('--source'));
const redis = await startBenchRedis();

/** Pairs done by CONCURRENCY loops running `pair` for `ms`; a pair that was denied counts in `denied`. */
async function drive(ms: number, layout: Layout, pair: (key: string) => Promise<boolean>): Promise<{ pairs: number; denied: number }> {
  const end = performance.now() + ms;
  let pairs = 0;
  let denied = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        if (await pair(LAYOUTS[layout].key())) pairs += 1;
        else denied += 1;
      }
    }),
  );
  return { pairs, denied };
}

interface Row {
  readonly round: number;
  readonly layout: Layout;
  readonly contender: Contender;
  readonly pairsPerSec: number;
  readonly denied: number;
  readonly redisCpuUsPerPair: number;
  readonly nodeCpuUsPerPair: number;
}

const rows: Row[] = [];
const client = redis.client();
try {
  await client.ping();
  const cases = (['keys', 'hot'] as const).flatMap((layout) => (['tollgate', 'redis-semaphore'] as const).map((contender) => ({ layout, contender })));
  for (let round = 1; round <= rounds; round += 1) {
    const k = (round - 1) % cases.length;
    for (const c of [...cases.slice(k), ...cases.slice(0, k)]) {
      await redis.flush();
      const { max } = LAYOUTS[c.layout];
      const store = c.contender === 'tollgate' ? new tollgate.RedisStore({ client, prefix: 'tg:' }) : undefined;
      let pair: (key: string) => Promise<boolean>;
      if (store) {
        const limiter = new tollgate.Limiter({ store, telemetry: false });
        const limit = tollgate.concurrency(max, { ttl: TTL_MS });
        pair = async (key) => {
          const lease = await limiter.acquire(key, limit);
          if (!lease.allowed) return false;
          await lease.release();
          return true;
        };
      } else {
        pair = async (key) => {
          const semaphore = new Semaphore(client, key, max, { lockTimeout: TTL_MS, refreshInterval: 0, acquireAttemptsLimit: 1, retryInterval: 1 });
          if (!(await semaphore.tryAcquire())) return false;
          await semaphore.release();
          return true;
        };
      }
      try {
        await drive(warmMs, c.layout, pair);
        const { result: done, elapsedMs: elapsed, nodeCpuUs, before, after } = await measuredWindow(redis, () => drive(sliceMs, c.layout, pair));
        const row: Row = {
          round,
          ...c,
          pairsPerSec: (done.pairs * 1000) / elapsed,
          denied: done.denied,
          redisCpuUsPerPair: (after.cpuUs - before.cpuUs) / done.pairs,
          nodeCpuUsPerPair: nodeCpuUs / done.pairs,
        };
        rows.push(row);
        console.log(
          `round ${round} ${c.layout.padEnd(5)} ${c.contender.padEnd(16)} ${Math.round(row.pairsPerSec).toLocaleString('en-US').padStart(8)} pairs/s  Redis CPU ${row.redisCpuUsPerPair.toFixed(1)} µs/pair  Node CPU ${row.nodeCpuUsPerPair.toFixed(1)} µs/pair  denied ${row.denied}`,
        );
      } finally {
        await store?.close();
      }
    }
  }
} finally {
  client.disconnect();
  await redis.stop();
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const summary = (['keys', 'hot'] as const).map((layout) => {
  const of = (contender: Contender) => rows.filter((r) => r.layout === layout && r.contender === contender);
  const mine = of('tollgate');
  const theirs = of('redis-semaphore');
  return {
    layout,
    tollgate: median(mine.map((r) => r.pairsPerSec)),
    semaphore: median(theirs.map((r) => r.pairsPerSec)),
    ratio: median(mine.map((r) => ratio(r.pairsPerSec, theirs.find((t) => t.round === r.round)?.pairsPerSec ?? NaN))),
    tollgateRedisCpu: median(mine.map((r) => r.redisCpuUsPerPair)),
    semaphoreRedisCpu: median(theirs.map((r) => r.redisCpuUsPerPair)),
    tollgateNodeCpu: median(mine.map((r) => r.nodeCpuUsPerPair)),
    semaphoreNodeCpu: median(theirs.map((r) => r.nodeCpuUsPerPair)),
    denied: mine.concat(theirs).reduce((s, r) => s + r.denied, 0),
  };
});
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`;
const lines = [
  '# Concurrency-limit benchmark',
  '',
  `Acquire+release pairs at C=${CONCURRENCY}: tollgate's \`limiter.acquire()\` + \`lease.release()\` over a RedisStore (defaults: batching, 3 calls in flight) and redis-semaphore's counting \`Semaphore\` (\`tryAcquire()\` + \`release()\`, refresh timer off), both on one ioredis connection to the same throwaway Redis, lease ttl ${TTL_MS / 1000} s. Nothing is denied. ${rounds} rounds of ${sliceMs / 1000} s per variant, interleaved; medians; ratio within a round. tollgate ${note}.${quick ? ' Quick mode.' : ''}`,
  '',
  `Machine: ${machine}. Redis shares the machine's cores with Node.`,
  '',
  '| layout | tollgate pairs/s | redis-semaphore pairs/s | ratio | Redis CPU µs/pair (tollgate / redis-semaphore) | Node CPU µs/pair (tollgate / redis-semaphore) |',
  '|---|---:|---:|---:|---:|---:|',
  ...summary.map(
    (s) =>
      `| ${LAYOUTS[s.layout].label} | ${fmt(s.tollgate)} | ${fmt(s.semaphore)} | ${s.ratio.toFixed(2)}x | ${s.tollgateRedisCpu.toFixed(1)} / ${s.semaphoreRedisCpu.toFixed(1)} | ${s.tollgateNodeCpu.toFixed(1)} / ${s.semaphoreNodeCpu.toFixed(1)} |`,
  ),
  '',
];
const here = fileURLToPath(new URL('.', import.meta.url));
mkdirSync(`${here}results`, { recursive: true });
writeFileSync(`${here}results/concurrency.md`, lines.join('\n'));
writeFileSync(`${here}results/concurrency.json`, `${JSON.stringify({ quick, rounds, sliceMs, machine, note, summary, rows }, null, 2)}\n`);
// The chart: every round of both layouts, so the spread between rounds shows beside the medians.
writeFileSync(
  `${here}results/concurrency.svg`,
  concurrencyChartSvg(
    [{ label: 'this run', rows }],
    `Acquire+release pairs per second at C=${CONCURRENCY} (higher is better)`,
    `${rounds} rounds of ${sliceMs / 1000} s, interleaved; label: tollgate / redis-semaphore in that round; ${cpus().length} cores, Node ${process.version}`,
  ),
);
console.log(`\n${lines.join('\n')}`);
console.log('wrote bench/results/concurrency.{json,md,svg}');
