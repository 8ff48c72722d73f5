/**
 * Store benchmark (issue 3): tollgate's RedisStore (through Limiter.allow)
 * against rate-limiter-flexible (RateLimiterRedis + ioredis, with and without
 * inMemoryBlockOnConsumed) and a naive one-EVALSHA-per-check GCRA client, all
 * in the same run on a throwaway Redis this process starts and stops.
 *
 * Uniform random keys over 10,000 ids; closed loops of C = 1, 64, 512 checks
 * in flight; profiles "all pass" and "nearly all denied" (5 per 60 s after a
 * warm-up that exhausts every key). Libraries are interleaved within each
 * round; figures are medians of the rounds and ratios are taken within a round.
 * Fair to the peers (issue 15, docs/benchmarks.md): every contender gets one
 * ioredis connection with the same settings, the same warm-up and window, and
 * a heap collected before its window (npm run bench passes --expose-gc).
 * Also measures the native floor (pipelined GET + SET PX) against tollgate's
 * single, compound, quota and concurrency checks at C=512, and the cost of
 * denied keys from 1k to 100k held locally.
 *
 * tollgate is measured compiled to JavaScript (see lib/build.ts); --source
 * measures the TypeScript source through tsx instead.
 *
 * Flags: --quick (a few minutes), --rounds=N, --pool=N (tollgate pool.size),
 * --no-deny-cache, --source. Writes bench/results/store.{json,md,svg}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { loadTollgate } from './lib/build.js';
import { type BenchLimit, type ContenderSpec, type TollgateSettings, naive, resolveLimitUs, rlf, rlfBlock, tollgate } from './lib/contenders.js';
import { type ScalingRow, measureLevel } from './lib/deny-scaling.js';
import { type FloorRow, type ItemId, type ItemRow, measureFloor, measureItem, summarizeFloor } from './lib/floor.js';
import { runLoad } from './lib/load.js';
import { type ScriptCostRow, measureScriptCost } from './lib/script-cost.js';
import { type BenchRedis, commandDelta, startBenchRedis } from './lib/redis.js';
import { parseFlags } from './lib/flags.js';
import {
  type ProfileId,
  type RunRecord,
  evaluateTargets,
  floorTable,
  mainTable,
  passChart,
  redisCpuTable,
  scalingTable,
  scriptCostTable,
  summarize,
  summarizeScaling,
  summarizeScriptCost,
  targetsList,
} from './lib/store-report.js';

const { flag, intFlag } = parseFlags(process.argv.slice(2));
const quick = flag('quick') !== undefined;

/** Durations and counts: every measurement stops at a fixed time or count, whichever comes first. */
const config = {
  rounds: intFlag('rounds') ?? (quick ? 3 : 5),
  keys: 10_000,
  concurrency: [1, 64, 512],
  runMs: quick ? 500 : 3000,
  // Long enough for the JIT and for nearly every key to exist before the window (at 50k checks/s, 99% of 10k keys).
  warmMs: quick ? 200 : 1000,
  maxChecks: quick ? 1_000_000 : 4_000_000,
  scaling: {
    rounds: quick ? 1 : 3,
    levels: [1_000, 10_000, 100_000],
    insertMax: quick ? 2_000 : 10_000,
    insertMs: quick ? 1_000 : 2_500,
    lookupMs: quick ? 300 : 1_000,
    fillMs: quick ? 15_000 : 30_000,
    concurrency: 64,
  },
  floor: {
    rounds: intFlag('rounds') ?? (quick ? 3 : 5),
    pairs: [32, 128],
    inFlight: 4,
    ttlMs: 60_000,
    warmMs: quick ? 200 : 1000,
    durationMs: quick ? 500 : 3_000,
    maxPipelines: 1_000_000,
    concurrency: 512,
    items: ['single', 'compound', 'quota', 'concurrency'] as ItemId[],
  },
  scriptCost: {
    rounds: quick ? 1 : 3,
    sizes: [1, 8, 32, 128, 512],
    inFlight: 8,
    durationMs: quick ? 400 : 1_500,
    warmMs: quick ? 100 : 300,
  },
};

const settings: TollgateSettings = {
  timeoutMs: 5_000,
  ...(intFlag('pool') !== undefined ? { poolSize: intFlag('pool') } : {}),
  ...(flag('no-deny-cache') !== undefined ? { denyCache: false } : {}),
};

const loaded = await loadTollgate(flag('source') !== undefined);
/** A full collection before each measured window (node --expose-gc, as npm run bench starts this file); undefined without the flag. */
const forceGc = (globalThis as { gc?: () => void }).gc;
const tg = (s: TollgateSettings): ContenderSpec => tollgate(loaded.module, s);

const PROFILES: Record<ProfileId, { limit: BenchLimit; libs: ContenderSpec[] }> = {
  // A limit so high that nothing is denied (each key sees well under 1,000 checks/s).
  pass: { limit: { rate: 1_000_000_000, periodMs: 60_000 }, libs: [tg(settings), rlf, naive] },
  // 5 per 60 s; every key is exhausted by the warm-up.
  deny: { limit: { rate: 5, periodMs: 60_000 }, libs: [tg(settings), rlf, rlfBlock, naive] },
};

const ids = Array.from({ length: config.keys }, (_, i) => `user:${i}`);
const randomKey = (): string => ids[(Math.random() * ids.length) | 0] as string;

function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** One measured run on a flushed Redis. */
async function measure(redis: BenchRedis, round: number, profile: ProfileId, concurrency: number, spec: ContenderSpec): Promise<RunRecord> {
  const { limit } = PROFILES[profile];
  await redis.flush();
  const c = await spec.create(redis, limit);
  try {
    if (profile === 'deny') {
      // Exhaust every key: take the whole burst, then one denied check (which
      // also lets a local deny cache / block list learn the key).
      let next = 0;
      const warm = await runLoad({
        concurrency: 64,
        durationMs: 60_000,
        maxChecks: ids.length,
        nextKey: () => ids[next++] as string,
        check: async (k) => {
          await c.check(k, limit.rate);
          return c.check(k);
        },
      });
      if (warm.errors > 0) throw warm.firstError;
    }
    await runLoad({ concurrency, durationMs: config.warmMs, maxChecks: config.maxChecks, nextKey: randomKey, check: (k) => c.check(k) });
    // Every measured window starts on a collected heap: no contender pays for the garbage of the one before.
    forceGc?.();
    const load1 = loadavg()[0] as number;
    const before = await redis.counters();
    const r = await runLoad({ concurrency, durationMs: config.runMs, maxChecks: config.maxChecks, nextKey: randomKey, check: (k) => c.check(k) });
    const after = await redis.counters();
    const reached = commandDelta(before, after, c.perCheckCommand).calls;
    const evalsha = commandDelta(before, after, 'evalsha');
    const evalCmd = commandDelta(before, after, 'eval');
    const scriptCalls = evalsha.calls + evalCmd.calls;
    const per100k = (us: number): number => (r.checks > 0 ? (us / r.checks) * 100 : NaN); // µs/check * 100k / 1000 = ms per 100k
    return {
      round,
      profile,
      concurrency,
      lib: spec.id,
      checks: r.checks,
      denied: r.denied,
      errors: r.errors,
      ...(r.errors > 0 ? { firstError: errorText(r.firstError) } : {}),
      elapsedMs: r.elapsedMs,
      checksPerSec: r.checksPerSec,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      nodeCpuMsPer100k: per100k(r.nodeCpuUs),
      redisCpuMsPer100k: per100k(after.cpuUs - before.cpuUs),
      reachedRedis: r.checks > 0 ? reached / r.checks : NaN,
      scriptCalls,
      checksPerScriptCall: scriptCalls > 0 ? reached / scriptCalls : NaN,
      scriptUsPerCheck: reached > 0 ? (evalsha.usec + evalCmd.usec) / reached : NaN,
      gcMsPer100k: per100k(r.gc.ms * 1000),
      loadavg1: load1,
    };
  } finally {
    await c.close();
  }
}

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const started = performance.now();
const loadavgStart = loadavg();
const redis = await startBenchRedis();
const runs: RunRecord[] = [];
const scalingRows: ScalingRow[] = [];
const scriptRows: ScriptCostRow[] = [];
const floorRows: FloorRow[] = [];
const itemRows: ItemRow[] = [];
let tollgateNotes = '';
let driverUs = NaN;
let scalingNotes = '';
try {
  const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  console.log(`redis-server ${version} on 127.0.0.1:${redis.port}; ${quick ? 'quick' : 'full'} run, ${config.rounds} rounds, ${config.runMs} ms per measurement`);
  {
    const probe = await PROFILES.pass.libs[0]!.create(redis, PROFILES.pass.limit);
    tollgateNotes = `${probe.notes}; ${loaded.note}`;
    await probe.close();
    console.log(`tollgate: ${tollgateNotes}`);
  }
  {
    // The closed-loop driver's own cost per check (a check that resolves at once), the same for every contender.
    const d = await runLoad({ concurrency: 512, durationMs: quick ? 300 : 1000, maxChecks: config.maxChecks, nextKey: randomKey, check: () => Promise.resolve(true) });
    driverUs = d.nodeCpuUs / d.checks;
    console.log(`driver alone: ${driverUs.toFixed(2)} µs of Node CPU per check`);
  }

  for (let round = 1; round <= config.rounds; round += 1) {
    for (const profile of ['pass', 'deny'] as const) {
      for (const concurrency of config.concurrency) {
        for (const spec of rotate(PROFILES[profile].libs, round - 1 + concurrency)) {
          const rec = await measure(redis, round, profile, concurrency, spec);
          runs.push(rec);
          const err = rec.errors > 0 ? `  ${rec.errors} errors, first: ${rec.firstError}` : '';
          console.log(
            `round ${round} ${profile.padEnd(4)} C=${String(concurrency).padEnd(3)} ${spec.id.padEnd(9)} ${Math.round(rec.checksPerSec).toString().padStart(8)} checks/s  p50 ${rec.p50Ms.toFixed(3)} ms  p99 ${rec.p99Ms.toFixed(3)} ms${err}`,
          );
        }
      }
    }
  }

  // The native floor and tollgate's items through its public API, interleaved per round (ratios within a round).
  for (let round = 1; round <= config.floor.rounds; round += 1) {
    const f = config.floor;
    const steps: (() => Promise<void>)[] = [
      async () => {
        const rows = await measureFloor(redis, round, { ...f, keys: config.keys });
        floorRows.push(...rows);
        for (const r of rows) console.log(`floor round ${round} GET+SET x${String(r.pairs).padEnd(3)} ${Math.round(r.pairsPerSec)} pairs/s  Redis CPU ${r.redisCpuUs.toFixed(2)} µs/pair  commands ${r.commandUs.toFixed(2)} µs/pair`);
      },
      ...f.items.map((item) => async () => {
        const r = await measureItem(loaded.module, redis, round, item, { concurrency: f.concurrency, keys: config.keys, warmMs: config.warmMs, durationMs: f.durationMs, maxChecks: config.maxChecks });
        itemRows.push(r);
        console.log(`floor round ${round} ${item.padEnd(11)} C=${f.concurrency} ${Math.round(r.checksPerSec)} checks/s  Redis CPU ${r.redisCpuUs.toFixed(2)} µs/check  ${r.callsPerCheck.toFixed(3)} calls/check${r.failed > 0 ? `  ${r.failed} denied/failed` : ''}`);
      }),
    ];
    for (const step of rotate(steps, round - 1)) await step();
  }

  const passLimit = PROFILES.pass.limit;
  const passInterval = resolveLimitUs(passLimit).interval;
  for (let round = 1; round <= config.scriptCost.rounds; round += 1) {
    const rows = await measureScriptCost(redis, rotate([naive, rlf], round), passLimit, passInterval, { ...config.scriptCost, keys: config.keys });
    scriptRows.push(...rows);
    for (const r of rows) {
      console.log(`script ${r.script.padEnd(17)} batch ${String(r.batch).padStart(3)}  ${Math.round(r.checksPerSec)} checks/s  Redis CPU ${r.redisCpuUs.toFixed(2)} µs/check  script ${r.scriptUs.toFixed(2)} µs/check`);
    }
  }

  // rate-limiter-flexible's block list is unbounded; give tollgate's cache room for every denied key too.
  const maxLevel = Math.max(...config.scaling.levels) + config.scaling.insertMax;
  const scalingLibs = [tg({ ...settings, ...(settings.denyCache === false ? {} : { denyCacheEntries: maxLevel }) }), rlfBlock];
  {
    const probe = await scalingLibs[0]!.create(redis, PROFILES.deny.limit);
    scalingNotes = `${probe.notes}; ${loaded.note}`;
    await probe.close();
  }
  for (let round = 1; round <= config.scaling.rounds; round += 1) {
    for (const level of config.scaling.levels) {
      for (const spec of rotate(scalingLibs, round + level)) {
        const row = await measureLevel(redis, spec, PROFILES.deny.limit, level, { ...config.scaling, maxChecks: config.maxChecks });
        scalingRows.push(row);
        console.log(
          `denied keys ${String(row.level).padStart(6)} ${spec.id.padEnd(9)} insert ${Math.round(row.insertPerSec)}/s (${row.insertCpuUs.toFixed(1)} µs CPU each)  lookup ${Math.round(row.lookupPerSec)}/s (${(row.lookupLocal * 100).toFixed(1)}% local)`,
        );
      }
    }
  }
} finally {
  await redis.stop();
}

const summary = summarize(runs);
const scaling = summarizeScaling(scalingRows);
const scriptCost = summarizeScriptCost(scriptRows);
const floor = summarizeFloor(floorRows, itemRows);
const targets = evaluateTargets(summary, scaling, floor);
const totalSec = (performance.now() - started) / 1000;
const meta = {
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  commit: gitHead(),
  node: process.version,
  cpus: cpus().length,
  loadavg: loadavgStart,
  loadavgEnd: loadavg(),
  gcBeforeWindow: forceGc !== undefined,
  driverUsPerCheck: driverUs,
  rounds: config.rounds,
  config,
  tollgate: tollgateNotes,
  tollgateScaling: scalingNotes,
  seconds: Math.round(totalSec),
};

const setup =
  `${meta.mode} run of ${meta.date.slice(0, 10)} (commit ${meta.commit}), Node ${meta.node}, ${meta.cpus} cores shared with other work, ` +
  `load average ${meta.loadavg.map((v) => v.toFixed(1)).join(' / ')} (1/5/15 min) at the start, ${meta.loadavgEnd.map((v) => v.toFixed(1)).join(' / ')} at the end; ` +
  `one Redis on loopback; ${config.rounds} rounds of ${config.runMs} ms per measurement after ${config.warmMs} ms of warm-up, libraries interleaved (order rotated each round), medians; ` +
  `${meta.gcBeforeWindow ? 'a full garbage collection before each measured window (node --expose-gc)' : 'no forced garbage collection (run without --expose-gc)'}; ` +
  `every contender over one ioredis connection with the settings tollgate gives its own (enableOfflineQueue false, maxRetriesPerRequest 0); ` +
  `the closed-loop driver alone costs ${driverUs.toFixed(2)} µs of Node CPU per check (included in every Node CPU figure); ` +
  `ratios (in parentheses) are to rate-limiter-flexible in the same round (all pass) and to rate-limiter-flexible + inMemoryBlockOnConsumed (nearly all denied). ` +
  `Keys uniform over ${config.keys.toLocaleString('en-US')} ids; C = checks in flight (closed loop). tollgate: ${tollgateNotes}.`;

const md =
  `### Store benchmark\n\n${setup}\n\n${mainTable(summary)}\n` +
  `#### Redis CPU per check through each library (all pass)\n\n${redisCpuTable(summary)}\n` +
  `#### Redis CPU per check: tollgate's script in batches vs per-call scripts\n\n` +
  `Script calls sent directly (tollgate's batches built with its own codec), ${config.scriptCost.inFlight} calls in flight, limit never reached.\n\n` +
  `${scriptCostTable(scriptCost)}\n` +
  `#### Redis CPU per check against the native floor (issue 15)\n\n` +
  `The floor: GET key + SET key value PX ${config.floor.ttlMs} pairs, pipelined (${config.floor.pairs.join(' or ')} pairs per pipeline, ${config.floor.inFlight} pipelines in flight, one ioredis connection), keys uniform over ${config.keys.toLocaleString('en-US')} ids; ` +
  `tollgate: the built module's public API over a RedisStore with its defaults, C = ${config.floor.concurrency}, every limit out of reach. ` +
  `Floor and items interleaved in each of ${config.floor.rounds} rounds of ${config.floor.durationMs} ms; ratios to the same round's floor, medians.\n\n` +
  `${floorTable(floor)}\n` +
  `#### Denied keys held locally: insert and lookup cost\n\n` +
  `An insert is a check that Redis denies for the first time, so the local cache/list takes the key (round trip included); a lookup is a check on a key already held. C = ${config.scaling.concurrency}. tollgate: ${scalingNotes}; rate-limiter-flexible's block list is unbounded, and is preloaded (its inserts scan the whole list, so filling 100k keys through consume() would take minutes).\n\n` +
  `${scalingTable(scaling)}\n#### Targets (issues 3 and 15)\n\n${targetsList(targets)}`;

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/store.json', import.meta.url), `${JSON.stringify({ meta, summary, scaling, scriptCost, floor, targets, runs, scalingRuns: scalingRows, scriptCostRuns: scriptRows, floorRuns: floorRows, itemRuns: itemRows }, null, 2)}\n`);
writeFileSync(new URL('./results/store.md', import.meta.url), md);
writeFileSync(
  new URL('./results/store.svg', import.meta.url),
  passChart(summary, `${meta.mode} run, ${config.rounds} rounds, medians; ratios to rate-limiter-flexible in the same round; ${meta.cpus} shared cores`),
);
console.log(`\n${md}`);
console.log(`store bench finished in ${totalSec.toFixed(0)} s; wrote bench/results/store.{json,md,svg}`);
