/**
 * Redis Cluster benchmark: checks/s of Limiter.allow over a RedisStore on an
 * ioredis Cluster client, against rate-limiter-flexible's RateLimiterRedis on
 * the same client, on a throwaway three-master cluster that this process
 * starts on free loopback ports and stops (test/helpers/redis-cluster.ts).
 *
 * Three key layouts: keys uniform over 10,000 ids (every check in a slot of
 * its own, so each script call carries one check), the same ids under 16
 * hash tags (e.g. one tag per tenant: checks of a tag share a slot and are
 * batched), and 16 hot keys (every loop hits one of 16 keys, so checks on
 * one key queue up: on a cluster a key has one call in flight at a time,
 * and this layout shows what that costs). All checks pass. Variants run interleaved in rotating order per
 * round; figures are medians of the rounds, ratios taken within a round.
 * On a 2-core machine the three masters share the cores with Node, so this
 * shows batching and overhead, not scale-out.
 *
 * Flags: --quick (under a minute), --rounds=N, --source. Writes bench/results/cluster.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { startRedisCluster } from '../test/helpers/redis-cluster.js';
import { loadTollgate } from './lib/build.js';
import { median, ratio } from './lib/stats.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be an integer >= 1, got ${rounds}`);
const sliceMs = quick ? 1000 : 3000;
const warmMs = quick ? 300 : 1000;
const KEYS = 10_000;
const CONCURRENCY = [64, 512] as const;

type Layout = 'uniform' | 'tagged' | 'hot';
const LAYOUTS: readonly Layout[] = ['uniform', 'tagged', 'hot'];
const LAYOUT_LABEL: Record<Layout, string> = { uniform: '10,000 ids, a slot each', tagged: 'the same ids under 16 hash tags', hot: '16 hot keys' };
type Contender = 'tollgate' | 'rlf';
const KEY_OF: Record<Layout, (i: number) => string> = {
  uniform: (i) => `user-${i}`,
  tagged: (i) => `{tenant-${i % 16}}user-${i}`,
  hot: (i) => `hot-${i % 16}`,
};

const { module: tollgate, note } = await loadTollgate(args.includes('--source'));
const limit = { rate: 1_000_000, period: 60_000 };
const cluster = await startRedisCluster();

/** Checks done by `concurrency` loops calling `check` for `ms`. */
async function drive(concurrency: number, ms: number, layout: Layout, check: (key: string) => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < end; i += concurrency) {
        await check(KEY_OF[layout](i % KEYS));
        done += 1;
      }
    }),
  );
  return done;
}

interface Row {
  readonly round: number;
  readonly layout: Layout;
  readonly concurrency: number;
  readonly contender: Contender;
  readonly checksPerSec: number;
}

const rows: Row[] = [];
const client = cluster.cluster();
try {
  await client.ping();
  const rlf = new RateLimiterRedis({ storeClient: client, points: limit.rate, duration: limit.period / 1000, keyPrefix: 'rlf' });
  const cases = LAYOUTS.flatMap((layout) => CONCURRENCY.flatMap((concurrency) => (['tollgate', 'rlf'] as const).map((contender) => ({ layout, concurrency, contender }))));
  for (let round = 1; round <= rounds; round += 1) {
    const k = (round - 1) % cases.length;
    for (const c of [...cases.slice(k), ...cases.slice(0, k)]) {
      const store = c.contender === 'tollgate' ? new tollgate.RedisStore({ client: client as never, prefix: 'tg:' }) : undefined;
      const limiter = store ? new tollgate.Limiter({ store, telemetry: false }) : undefined;
      const check = limiter ? (key: string) => limiter.allow(key, limit) : (key: string) => rlf.consume(key);
      try {
        await drive(c.concurrency, warmMs, c.layout, check);
        const t0 = performance.now();
        const done = await drive(c.concurrency, sliceMs, c.layout, check);
        const row = { round, ...c, checksPerSec: (done * 1000) / (performance.now() - t0) };
        rows.push(row);
        console.log(`round ${round} ${c.layout.padEnd(8)} C=${String(c.concurrency).padEnd(4)} ${c.contender.padEnd(9)} ${Math.round(row.checksPerSec).toLocaleString('en-US').padStart(9)} checks/s`);
      } finally {
        await store?.close();
      }
    }
  }
} finally {
  await cluster.stop();
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const summary = LAYOUTS.flatMap((layout) =>
  CONCURRENCY.map((concurrency) => {
    const of = (contender: Contender) => rows.filter((r) => r.layout === layout && r.concurrency === concurrency && r.contender === contender);
    const mine = of('tollgate');
    const theirs = of('rlf');
    return {
      layout,
      concurrency,
      tollgate: median(mine.map((r) => r.checksPerSec)),
      rlf: median(theirs.map((r) => r.checksPerSec)),
      ratio: median(mine.map((r) => ratio(r.checksPerSec, theirs.find((t) => t.round === r.round)?.checksPerSec ?? NaN))),
    };
  }),
);
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`;
const lines = [
  '# Redis Cluster benchmark',
  '',
  `Limiter.allow over a RedisStore on an ioredis Cluster client (defaults: 64 calls in flight per node, one per key), and rate-limiter-flexible's RateLimiterRedis on the same client, against a throwaway 3-master cluster on loopback. All checks pass. ${rounds} rounds of ${sliceMs / 1000} s per variant, interleaved; medians; ratio within a round. tollgate ${note}.${quick ? ' Quick mode.' : ''}`,
  '',
  `Machine: ${machine}. The masters share the machine's cores with Node: this shows batching and overhead, not scale-out.`,
  '',
  '| keys | C | tollgate checks/s | rate-limiter-flexible checks/s | ratio |',
  '|---|---:|---:|---:|---:|',
  ...summary.map((s) => `| ${LAYOUT_LABEL[s.layout]} | ${s.concurrency} | ${fmt(s.tollgate)} | ${fmt(s.rlf)} | ${s.ratio.toFixed(2)}x |`),
  '',
];
const here = fileURLToPath(new URL('.', import.meta.url));
mkdirSync(`${here}results`, { recursive: true });
writeFileSync(`${here}results/cluster.md`, lines.join('\n'));
writeFileSync(`${here}results/cluster.json`, `${JSON.stringify({ quick, rounds, sliceMs, machine, note, summary, rows }, null, 2)}\n`);
console.log(`\n${lines.join('\n')}`);
console.log('wrote bench/results/cluster.{json,md}');
