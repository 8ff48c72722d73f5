/**
 * HTTP benchmark (issue 4): Express and Fastify each with no limiter, with
 * tollgate (RedisStore) and with the framework's usual peer
 * (express-rate-limit + rate-limit-redis; @fastify/rate-limit + ioredis),
 * in the same run, against a throwaway Redis this process starts and stops.
 *
 * Each server runs in its own process (bench/lib/http-server.ts) and the
 * load generator (autocannon, bench/lib/http-load.ts) in another, so neither
 * shares an event loop with the server. Keys vary over 10,000 `x-api-key`
 * values; no request is ever denied, so the figures are the limiter's cost.
 * Variants are interleaved (rotated per round); figures are medians of the
 * rounds, and each ratio (limited / unlimited) is taken within a round.
 * The ratios carry no targets: at saturation on two shared cores they mostly
 * show which process wins the cores; bench/http-cpu.bench.ts measures the CPU
 * each limiter adds per request at a fixed load instead (issue 15).
 *
 * Flags: --quick (under 2 minutes), --rounds=N, --connections=N,
 * --duration=S, --only=express|fastify, --source (tollgate from src/ through tsx instead of dist/), --pool=N (tollgate's pool.size), --memory (adds tollgate over a
 * MemoryStore, to separate the middleware's cost from the store's), --passthrough (adds a
 * middleware or hook that only passes the request on: the framework's cost of one layer), --store=JSON (more RedisStore
 * options for tollgate, e.g. '{"pool":{"pipeline":2}}'). Writes bench/results/http.{json,md,svg}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from './lib/http-load.js';
import { parseFlags } from './lib/flags.js';
import { type Framework, LABEL, type Variant, nodeScript, prepareServerBuild, sanityCheck, startServer, stopServer } from './lib/http-procs.js';
import { type BenchRedis, startBenchRedis } from './lib/redis.js';
import { median, ratio } from './lib/stats.js';
import { barChartSvg } from './lib/svg.js';

const { flag, intFlag } = parseFlags(process.argv.slice(2));
const quick = flag('quick') !== undefined;
prepareServerBuild(flag('source') !== undefined);
const storeFlag = flag('store');
if (storeFlag !== undefined) {
  JSON.parse(storeFlag); // fails early on a malformed --store
  process.env.TOLLGATE_BENCH_STORE_OPTIONS = storeFlag;
}
const config = {
  rounds: intFlag('rounds') ?? 3,
  connections: intFlag('connections') ?? 64,
  keys: 10_000,
  warmSeconds: quick ? 1 : 3,
  seconds: intFlag('duration') ?? (quick ? 3 : 10),
};

const only = flag('only');
const FRAMEWORKS: readonly Framework[] = only === 'express' || only === 'fastify' ? [only] : ['express', 'fastify'];
// --memory adds tollgate over a MemoryStore: the middleware's own cost, without Redis.
// --passthrough adds a middleware/hook that does nothing but pass the request on: the framework's own cost of one more layer.
const VARIANTS: readonly Variant[] = [
  'none',
  ...(flag('passthrough') === undefined ? [] : (['passthrough'] as const)),
  'tollgate',
  ...(flag('memory') === undefined ? [] : (['tollgate-memory'] as const)),
  'peer',
];

/** One measured run. */
interface RunRecord extends LoadResult {
  readonly round: number;
  readonly framework: Framework;
  readonly variant: Variant;
  /** Server process CPU per request, µs. */
  readonly serverCpuUs: number;
  /** Redis server CPU per request, µs. */
  readonly redisCpuUs: number;
  /** Script calls (EVALSHA + EVAL) per request, from INFO commandstats. */
  readonly redisCallsPerReq: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));

/** Runs autocannon in its own process for `seconds` and returns what it measured. */
function load(port: number, seconds: number): Promise<LoadResult> {
  const child = nodeScript('http-load.ts', [`http://127.0.0.1:${port}/`, String(seconds), String(config.connections), String(config.keys)]);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as LoadResult);
      } catch {
        reject(new Error(`load generator exited with ${code} and printed ${JSON.stringify(out.slice(0, 200))}`));
      }
    });
  });
}

async function measure(redis: BenchRedis, round: number, framework: Framework, variant: Variant): Promise<RunRecord> {
  await redis.flush();
  const server = await startServer(framework, variant, redis.port, flag('pool'));
  try {
    await sanityCheck(server.port, framework, variant);
    await load(server.port, config.warmSeconds);
    const [cpu0, redis0] = [await server.cpu(), await redis.counters()];
    const r = await load(server.port, config.seconds);
    const [cpu1, redis1] = [await server.cpu(), await redis.counters()];
    const per = (us: number): number => (r.total > 0 ? us / r.total : NaN);
    // Commands a script runs count in INFO commandstats too, so only the script calls themselves are counted.
    const calls = (c: typeof redis0): number => (c.commands.get('evalsha')?.calls ?? 0) + (c.commands.get('eval')?.calls ?? 0);
    return {
      round,
      framework,
      variant,
      ...r,
      serverCpuUs: per(cpu1 - cpu0),
      redisCpuUs: per(redis1.cpuUs - redis0.cpuUs),
      redisCallsPerReq: per(calls(redis1) - calls(redis0)),
    };
  } finally {
    await stopServer(server.child);
  }
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}

const started = Date.now();
const redis = await startBenchRedis();
const records: RunRecord[] = [];
try {
  const order = FRAMEWORKS.flatMap((f) => VARIANTS.map((v) => [f, v] as const));
  for (let round = 1; round <= config.rounds; round += 1) {
    const k = (round - 1) % VARIANTS.length;
    // Rotate the variants within each framework per round, so none always runs first.
    const rotated = FRAMEWORKS.flatMap((f) => [...VARIANTS.slice(k), ...VARIANTS.slice(0, k)].map((v) => [f, v] as const));
    for (const [framework, variant] of round === 1 ? order : rotated) {
      const r = await measure(redis, round, framework, variant);
      records.push(r);
      console.log(
        `round ${round} ${LABEL[framework][variant].padEnd(48)} ${fmt(r.rps).padStart(8)} req/s  p99 ${fmt(r.p99, 1).padStart(6)} ms  ` +
          `CPU µs/req: server ${fmt(r.serverCpuUs, 1)} redis ${fmt(r.redisCpuUs, 1)} load ${fmt(r.loadCpuUs, 1)}  script calls/req ${fmt(r.redisCallsPerReq, 3)}  non-2xx ${r.non2xx}  errors ${r.errors}`,
      );
    }
  }
} finally {
  await redis.stop();
}

/** Medians per framework and variant, and the within-round ratios to the unlimited server. */
const summary = FRAMEWORKS.map((framework) => {
  const of = (variant: Variant) => records.filter((r) => r.framework === framework && r.variant === variant);
  const base = of('none');
  const rows = VARIANTS.map((variant) => {
    const runs = of(variant);
    const ratios = runs.map((r) => ratio(r.rps, base.find((b) => b.round === r.round)?.rps ?? NaN));
    return {
      variant,
      label: LABEL[framework][variant],
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      serverCpuUs: median(runs.map((r) => r.serverCpuUs)),
      redisCpuUs: median(runs.map((r) => r.redisCpuUs)),
      loadCpuUs: median(runs.map((r) => r.loadCpuUs)),
      redisCallsPerReq: median(runs.map((r) => r.redisCallsPerReq)),
      ratio: variant === 'none' ? 1 : median(ratios),
      ratios,
      non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
      errors: runs.reduce((s, r) => s + r.errors, 0),
    };
  });
  return { framework, rows };
});

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`;
const lines = [
  '# HTTP benchmark',
  '',
  `Every server in its own process, autocannon in another; ${config.connections} connections, keys over ${config.keys.toLocaleString('en-US')} \`x-api-key\` values, no request denied. ${config.rounds} rounds of ${config.seconds} s (after ${config.warmSeconds} s warm-up); medians of the rounds; ratio = limited / unlimited req/s within a round.${quick ? ' Quick mode.' : ''}`,
  '',
  `Machine: ${machine}. Redis: a throwaway redis-server on loopback.`,
  '',
  '| server | req/s | p50 ms | p99 ms | ratio to no limiter | server CPU µs/req | Redis CPU µs/req | load-generator CPU µs/req | script calls/req | non-2xx | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...summary.flatMap((s) =>
    s.rows.map(
      (r) =>
        `| ${r.label} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${r.variant === 'none' ? '1.00' : fmt(r.ratio, 2)} | ${fmt(r.serverCpuUs, 1)} | ${fmt(r.redisCpuUs, 1)} | ${fmt(r.loadCpuUs, 1)} | ${fmt(r.redisCallsPerReq, 3)} | ${r.non2xx} | ${r.errors} |`,
    ),
  ),
  '',
];
mkdirSync(`${here}results`, { recursive: true });
writeFileSync(`${here}results/http.md`, lines.join('\n'));
writeFileSync(
  `${here}results/http.json`,
  `${JSON.stringify({ config: { ...config, quick }, machine, durationSeconds: Math.round((Date.now() - started) / 1000), summary, records }, null, 2)}\n`,
);
const variantColor: Record<Variant, string> = { none: '#9aa5b1', passthrough: '#c3c9d0', tollgate: '#2f6fde', 'tollgate-memory': '#8fb3ef', peer: '#e8833a' };
writeFileSync(
  `${here}results/http.svg`,
  barChartSvg({
    title: 'HTTP requests per second, median of rounds',
    subtitle: `${config.connections} connections, 10k keys, Redis store; label: ratio to no limiter`,
    groups: summary.map((s) => (s.framework === 'express' ? 'Express 5' : 'Fastify 5')),
    yLabel: 'req/s',
    series: VARIANTS.map((variant) => ({
      name: { none: 'no limiter', passthrough: 'pass-through layer', tollgate: 'tollgate', 'tollgate-memory': 'tollgate (MemoryStore)', peer: 'usual peer' }[variant],
      color: variantColor[variant],
      values: summary.map((s) => s.rows.find((r) => r.variant === variant)?.rps ?? NaN),
      notes: summary.map((s) => {
        const r = s.rows.find((row) => row.variant === variant);
        return r === undefined || variant === 'none' ? undefined : `${fmt(r.ratio, 2)}x`;
      }),
    })),
  }),
);
console.log(`\n${lines.join('\n')}`);
console.log(`took ${Math.round((Date.now() - started) / 1000)} s; wrote bench/results/http.{json,md,svg}`);
