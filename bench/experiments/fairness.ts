/**
 * Fairness experiments for the store benchmark (issue 15): one closed-loop
 * measurement per variant, interleaved over rounds on one throwaway Redis,
 * printing throughput, Redis and Node CPU per check, GC pauses and heap size,
 * so that a setting of the bench (client options, warm-up, window, order,
 * forced GC) can be varied alone and its effect on each contender read off.
 *
 *   node --expose-gc --import tsx bench/experiments/fairness.ts \
 *     --variants=rlf,tollgate --c=512 --warm=400 --run=3000 --rounds=3 [--gc] [--fixed-order]
 *
 * Variants: rlf (ioredis defaults), rlf-safe (tollgate's connection settings:
 * no offline queue, no retries), rlf-auto (enableAutoPipelining), tollgate
 * (compiled, RedisStore defaults), noop (the driver alone: a check that
 * resolves at once). Every run is bounded by --run ms and 4M checks.
 */
import { loadavg } from 'node:os';
import { loadTollgate } from '../lib/build.js';
import { type Contender, type ContenderSpec, RLF_DEFAULT_CLIENT, rlfSpec, tollgate } from '../lib/contenders.js';
import { runLoad } from '../lib/load.js';
import { startBenchRedis } from '../lib/redis.js';
import { median, ratio } from '../lib/stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const has = (name: string): boolean => args.includes(`--${name}`);
const concurrency = Number(opt('c', '512'));
const warmMs = Number(opt('warm', '400'));
const runMs = Number(opt('run', '3000'));
const rounds = Math.min(20, Number(opt('rounds', '3')));
const names = opt('variants', 'rlf,tollgate').split(',');
const forceGc = has('gc');
const maxChecks = 4_000_000;
const limit = { rate: 1_000_000_000, periodMs: 60_000 };

const loaded = await loadTollgate(false);
const noop: ContenderSpec = {
  id: 'naive',
  label: 'driver alone',
  async create(): Promise<Contender> {
    return { check: () => Promise.resolve(true), close: async () => undefined, redisKey: (k) => k, perCheckCommand: 'none', notes: 'no Redis' };
  },
};
const VARIANTS: Record<string, ContenderSpec> = {
  rlf: rlfSpec(false, RLF_DEFAULT_CLIENT),
  'rlf-safe': rlfSpec(false, { options: { enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false }, note: "tollgate's safety settings" }),
  'rlf-auto': rlfSpec(false, { options: { enableAutoPipelining: true }, note: 'enableAutoPipelining' }),
  tollgate: tollgate(loaded.module, { timeoutMs: 5_000 }),
  noop,
};
for (const n of names) if (!(n in VARIANTS)) throw new Error(`unknown variant ${n}`);

const ids = Array.from({ length: 10_000 }, (_, i) => `user:${i}`);
const nextKey = (): string => ids[(Math.random() * ids.length) | 0] as string;
const gc = (globalThis as { gc?: () => void }).gc;
if (forceGc && !gc) throw new Error('--gc needs node --expose-gc');

interface Row {
  round: number;
  name: string;
  checksPerSec: number;
  redisUs: number;
  nodeUs: number;
  gcMs: number;
}
const rows: Row[] = [];
const redis = await startBenchRedis();
console.log(`C=${concurrency} warm ${warmMs} ms run ${runMs} ms rounds ${rounds} gc ${forceGc} order ${has('fixed-order') ? 'fixed' : 'rotated'}; loadavg ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
try {
  for (let round = 1; round <= rounds; round += 1) {
    const k = has('fixed-order') ? 0 : (round - 1) % names.length;
    for (const name of [...names.slice(k), ...names.slice(0, k)]) {
      await redis.flush();
      if (forceGc) gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      const c = await (VARIANTS[name] as ContenderSpec).create(redis, limit);
      try {
        if (warmMs > 0) await runLoad({ concurrency, durationMs: warmMs, maxChecks, nextKey, check: (key) => c.check(key) });
        const before = await redis.counters();
        const r = await runLoad({ concurrency, durationMs: runMs, maxChecks, nextKey, check: (key) => c.check(key) });
        const after = await redis.counters();
        const row = { round, name, checksPerSec: r.checksPerSec, redisUs: (after.cpuUs - before.cpuUs) / r.checks, nodeUs: r.nodeCpuUs / r.checks, gcMs: r.gc.ms };
        rows.push(row);
        const heap1 = process.memoryUsage().heapUsed;
        console.log(
          `round ${round} ${name.padEnd(9)} ${Math.round(r.checksPerSec).toString().padStart(7)}/s  Redis ${row.redisUs.toFixed(2)} µs  Node ${row.nodeUs.toFixed(2)} µs  ` +
            `GC ${r.gc.count} pauses ${r.gc.ms.toFixed(0)} ms (${r.gc.major} major)  heap ${(heap0 / 2 ** 20).toFixed(0)} -> ${(heap1 / 2 ** 20).toFixed(0)} MB  errors ${r.errors}`,
        );
      } finally {
        await c.close();
      }
    }
  }
} finally {
  await redis.stop();
}
for (const name of names) {
  const mine = rows.filter((r) => r.name === name);
  const m = (f: (r: Row) => number): string => median(mine.map(f)).toFixed(2);
  const vsRlf = names.includes('rlf') && name !== 'rlf' ? median(mine.map((r) => ratio(r.checksPerSec, rows.find((x) => x.name === 'rlf' && x.round === r.round)?.checksPerSec ?? NaN))) : NaN;
  console.log(
    `median ${name.padEnd(9)} ${m((r) => r.checksPerSec)}/s  Redis ${m((r) => r.redisUs)} µs  Node ${m((r) => r.nodeUs)} µs  GC ${m((r) => r.gcMs)} ms${Number.isFinite(vsRlf) ? `  ${vsRlf.toFixed(2)}x rlf (same round)` : ''}`,
  );
}
console.log(`loadavg at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
