/**
 * HTTP CPU benchmark (issue 15, target 4): the CPU a limiter adds per request,
 * measured at a fixed offered load well below saturation, where the figures do
 * not depend on which process wins the two shared cores.
 *
 * Each server (Express and Fastify: no limiter, tollgate over a RedisStore,
 * the framework's usual peer) runs in its own process (bench/lib/http-server.ts),
 * against the same throwaway Redis (flushed before each run), with the same
 * ioredis client setup; limits are never reached, so every request passes. An
 * open-loop generator in another process (bench/lib/paced-load.ts) sends
 * requests evenly spread at `--rate` per second, keys over 10,000 `x-api-key`
 * values. After the warm-up, the server's CPU time (process.cpuUsage(), over
 * a signal) and Redis's (INFO cpu) are read when the measured window starts and
 * ends. Added CPU = the limited server's CPU per request − the unlimited server's
 * of the same framework in the same round (for Redis too, which takes out its
 * idle work); the ratio tollgate / peer is taken within a round; medians of the
 * rounds, whose order rotates.
 *
 * Flags: --quick, --rounds=N, --rate=LIST (requests/s; entries R for both
 * frameworks or fastify:R / express:R for one; default express:1000,fastify:2000,fastify:4000),
 * --duration=S, --warm=S, --connections=N, --only=express|fastify, --source
 * (tollgate from src/ through tsx), --profile=DIR (each server writes a V8 CPU
 * profile into DIR when it stops). Writes bench/results/http-cpu.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type AddedCost, type CpuCounters, type CpuRun, addedCosts, addedRatio, perRequest } from './lib/cpu-cost.js';
import { parseFlags } from './lib/flags.js';
import { type Framework, LABEL, type Variant, nodeScript, onLines, prepareServerBuild, sanityCheck, startServer, stopServer } from './lib/http-procs.js';
import type { PacedResult } from './lib/paced-load.js';
import { type BenchRedis, startBenchRedis } from './lib/redis.js';
import { median } from './lib/stats.js';

const { flag, intFlag } = parseFlags(process.argv.slice(2));
const quick = flag('quick') !== undefined;
prepareServerBuild(flag('source') !== undefined);
const only = flag('only');
const FRAMEWORKS: readonly Framework[] = only === 'express' || only === 'fastify' ? [only] : ['express', 'fastify'];
/**
 * The loads to measure: `--rate=2000,fastify:5000` is 2000/s for both frameworks and 5000/s for Fastify
 * alone (an Express server's CPU per request is several times Fastify's, so its saturation is lower).
 */
const loads = (flag('rate') ?? 'express:1000,fastify:2000,fastify:4000').split(',').flatMap((entry) => {
  const m = /^(?:(express|fastify):)?(\d+)$/.exec(entry);
  if (!m || Number(m[2]) < 1) throw new Error(`--rate entries are R or express:R or fastify:R (requests/s), got ${JSON.stringify(entry)}`);
  const rate = Number(m[2]);
  return FRAMEWORKS.filter((f) => m[1] === undefined || m[1] === f).map((framework) => ({ framework, rate }));
});
const rates = [...new Set(loads.map((l) => l.rate))];
const config = {
  loads,
  rounds: intFlag('rounds') ?? (quick ? 3 : 5),
  connections: intFlag('connections') ?? 32,
  keys: 10_000,
  warmSeconds: intFlag('warm') ?? 2,
  seconds: intFlag('duration') ?? (quick ? 4 : 8),
};
const VARIANTS: readonly Variant[] = ['none', 'tollgate', 'peer'];
/** Targets of issue 15: tollgate adds at most this fraction of the peer's CPU per request. */
const TARGET_RATIO = 0.5;

/** One measured server at one rate in one round. */
interface RunRecord extends PacedResult, CpuRun {
  readonly rate: number;
  readonly framework: Framework;
  readonly variant: Variant;
  /** Script calls (EVALSHA + EVAL) per request, from INFO commandstats. */
  readonly redisCallsPerReq: number;
  /** Time inside those scripts per request, µs (INFO commandstats usec): the rest of Redis's CPU is I/O and dispatch. */
  readonly scriptUsPerReq: number;
}

/** Runs the paced generator; `onMark` is awaited at the window's start and end. */
function paced(port: number, rate: number, onMark: () => Promise<void>): Promise<PacedResult> {
  const child = nodeScript('paced-load.ts', [
    `http://127.0.0.1:${port}/`,
    String(rate),
    String(config.warmSeconds),
    String(config.seconds),
    String(config.connections),
    String(config.keys),
  ]);
  return new Promise((resolve, reject) => {
    let marks = Promise.resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), (config.warmSeconds + config.seconds + 30) * 1000);
    onLines(child.stdout, (line) => {
      if (line === 'MARK') marks = marks.then(onMark);
      else if (line.startsWith('{')) {
        const result = JSON.parse(line) as PacedResult;
        void marks.then(() => resolve(result), reject);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`paced load generator exited with ${code}`));
    });
  });
}

async function measure(redis: BenchRedis, rate: number, round: number, framework: Framework, variant: Variant): Promise<RunRecord> {
  await redis.flush();
  const server = await startServer(framework, variant, redis.port, undefined, flag('profile'));
  try {
    await sanityCheck(server.port, framework, variant);
    const readings: { cpu: CpuCounters; calls: number; usec: number }[] = [];
    const r = await paced(server.port, rate, async () => {
      const [serverUs, counters] = await Promise.all([server.cpu(), redis.counters()]);
      // Commands a script runs count in INFO commandstats too, so only the script calls themselves are counted.
      const stat = (field: 'calls' | 'usec'): number => (counters.commands.get('evalsha')?.[field] ?? 0) + (counters.commands.get('eval')?.[field] ?? 0);
      readings.push({ cpu: { serverUs, redisUs: counters.cpuUs }, calls: stat('calls'), usec: stat('usec') });
    });
    const [a, b] = readings;
    if (a === undefined || b === undefined) throw new Error(`expected 2 window marks, got ${readings.length}`);
    return {
      rate,
      round,
      framework,
      variant,
      ...r,
      ...perRequest(a.cpu, b.cpu, r.responses),
      redisCallsPerReq: r.responses > 0 ? (b.calls - a.calls) / r.responses : NaN,
      scriptUsPerReq: r.responses > 0 ? (b.usec - a.usec) / r.responses : NaN,
    };
  } finally {
    await stopServer(server.child);
  }
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const started = Date.now();
const loadAtStart = load();
const redis = await startBenchRedis();
const records: RunRecord[] = [];
try {
  for (const rate of rates) {
    const frameworks = FRAMEWORKS.filter((f) => loads.some((l) => l.rate === rate && l.framework === f));
    for (let round = 1; round <= config.rounds; round += 1) {
      const k = (round - 1) % VARIANTS.length;
      // Rotate the variants within each framework per round, so none always runs first.
      const order = frameworks.flatMap((f) => [...VARIANTS.slice(k), ...VARIANTS.slice(0, k)].map((v) => [f, v] as const));
      for (const [framework, variant] of order) {
        const r = await measure(redis, rate, round, framework, variant);
        records.push(r);
        console.log(
          `${rate}/s round ${round} ${LABEL[framework][variant].padEnd(48)} achieved ${fmt(r.achievedRate).padStart(6)}/s  p50 ${fmt(r.p50, 2)} p99 ${fmt(r.p99, 2)} ms  backlog ${r.maxBacklog}  ` +
            `CPU µs/req: server ${fmt(r.serverCpuUs, 1)} redis ${fmt(r.redisCpuUs, 1)} load ${fmt(r.loadCpuUs, 1)}  calls/req ${fmt(r.redisCallsPerReq, 3)} script µs/req ${fmt(r.scriptUsPerReq, 1)}  non-2xx ${r.non2xx} errors ${r.errors}  load avg ${load()}`,
        );
      }
    }
  }
} finally {
  await redis.stop();
}

/** Per rate and framework: each variant's medians, what it adds over no limiter, and tollgate / peer. */
const summary = loads.map(({ framework, rate }) => {
  const runs = records.filter((r) => r.rate === rate && r.framework === framework);
  const added = addedCosts(runs, 'none');
  const ratios = addedRatio(runs, 'none', 'tollgate', 'peer');
  const rows = VARIANTS.map((variant) => {
    const own = runs.filter((r) => r.variant === variant);
    return {
      ...(added.find((c) => c.variant === variant) as AddedCost),
      variant,
      label: LABEL[framework][variant],
      achievedRate: median(own.map((r) => r.achievedRate)),
      p50: median(own.map((r) => r.p50)),
      p99: median(own.map((r) => r.p99)),
      maxBacklog: Math.max(...own.map((r) => r.maxBacklog)),
      loadCpuUs: median(own.map((r) => r.loadCpuUs)),
      redisCallsPerReq: median(own.map((r) => r.redisCallsPerReq)),
      scriptUsPerReq: median(own.map((r) => r.scriptUsPerReq)),
      non2xx: own.reduce((s, r) => s + r.non2xx, 0),
      errors: own.reduce((s, r) => s + r.errors, 0),
    };
  });
  return {
    rate,
    framework,
    rows,
    ratios,
    serverMet: ratios.server <= TARGET_RATIO,
    redisMet: ratios.redis <= TARGET_RATIO,
  };
});

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, load average ${loadAtStart} at the start, ${load()} at the end`;
const met = (ok: boolean, value: number): string => `${fmt(value, 2)} ${Number.isFinite(value) ? (ok ? '(met)' : '(missed)') : ''}`;
const lines = [
  '# HTTP CPU benchmark',
  '',
  `Fixed offered load: ${loads.map((l) => `${l.rate.toLocaleString('en-US')}/s (${l.framework})`).join(', ')}, sent evenly spread (open loop) over up to ${config.connections} keep-alive connections; keys over ${config.keys.toLocaleString('en-US')} \`x-api-key\` values, no request denied. Every server in its own process, the generator in another, Redis a throwaway redis-server on loopback. ${config.rounds} rounds of ${config.seconds} s (after ${config.warmSeconds} s warm-up, excluded); medians of the rounds. Added = this server's CPU per request − the same framework's unlimited server's, in the same round; ratio = tollgate's added / the peer's added, within a round. Target: ratio <= ${TARGET_RATIO}.${quick ? ' Quick mode.' : ''}`,
  '',
  `Machine: ${machine}.`,
  '',
  '| rate/s | framework | tollgate / peer, server CPU added | tollgate / peer, Redis CPU added | rounds (server; Redis) |',
  '| ---: | --- | ---: | ---: | --- |',
  ...summary.map(
    (s) =>
      `| ${s.rate.toLocaleString('en-US')} | ${s.framework === 'express' ? 'Express 5' : 'Fastify 5'} | ${met(s.serverMet, s.ratios.server)} | ${met(s.redisMet, s.ratios.redis)} | ${s.ratios.serverByRound.map((x) => fmt(x, 2)).join(', ')}; ${s.ratios.redisByRound.map((x) => fmt(x, 2)).join(', ')} |`,
  ),
  '',
  '| rate/s | server | achieved/s | p50 ms | p99 ms | max backlog | server CPU µs/req | added | Redis CPU µs/req | added | script calls/req | script µs/req | generator CPU µs/req | non-2xx | errors |',
  '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...summary.flatMap((s) =>
    s.rows.map(
      (r) =>
        `| ${s.rate.toLocaleString('en-US')} | ${r.label} | ${fmt(r.achievedRate)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.maxBacklog} | ${fmt(r.serverCpuUs, 1)} | ${r.variant === 'none' ? '' : fmt(r.addedServerUs, 1)} | ${fmt(r.redisCpuUs, 1)} | ${r.variant === 'none' ? '' : fmt(r.addedRedisUs, 1)} | ${fmt(r.redisCallsPerReq, 3)} | ${fmt(r.scriptUsPerReq, 1)} | ${fmt(r.loadCpuUs, 1)} | ${r.non2xx} | ${r.errors} |`,
    ),
  ),
  '',
];
const results = fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(results, { recursive: true });
writeFileSync(`${results}http-cpu.md`, lines.join('\n'));
writeFileSync(
  `${results}http-cpu.json`,
  `${JSON.stringify({ config: { ...config, quick }, machine, targetRatio: TARGET_RATIO, durationSeconds: Math.round((Date.now() - started) / 1000), summary, records }, null, 2)}\n`,
);
console.log(`\n${lines.join('\n')}`);
console.log(`took ${Math.round((Date.now() - started) / 1000)} s; wrote bench/results/http-cpu.{json,md}`);
