/**
 * Redis CPU per check of tollgate's script (src/lua.ts: lua/prologue.lua,
 * lua/gcra.lua, ...) on GCRA checks when one call
 * carries a batch of B checks, next to per-call scripts (the naive GCRA
 * script and rate-limiter-flexible's). Independent of how the store forms
 * batches: calls are built with the store's own codec and sent directly.
 */
import type { Redis } from 'ioredis';
import { encodeBatch } from '../../src/redis-codec.js';
import { limitScript as gcra } from '../../src/lua.js';
import type { Check } from '../../src/store.js';
import type { ContenderSpec, BenchLimit } from './contenders.js';
import { type BenchRedis, commandDelta, measuredWindow } from './redis.js';

/** One measured configuration. */
export interface ScriptCostRow {
  /** What ran: `tollgate gcra.lua` or a per-call contender id. */
  readonly script: string;
  /** Checks per script call. */
  readonly batch: number;
  /** Script calls in flight. */
  readonly inFlight: number;
  /** Checks per second. */
  readonly checksPerSec: number;
  /** redis-server CPU (INFO cpu) per check, µs. */
  readonly redisCpuUs: number;
  /** Script execution time (INFO commandstats evalsha+eval) per check, µs. */
  readonly scriptUs: number;
  /** Node process CPU per check, µs. */
  readonly nodeCpuUs: number;
}

/** Bounds of the measurement. */
export interface ScriptCostOptions {
  /** Batch sizes for tollgate's script. */
  readonly sizes: readonly number[];
  /** Script calls in flight. */
  readonly inFlight: number;
  /** ms per measurement. */
  readonly durationMs: number;
  /** Warm-up ms before each measurement. */
  readonly warmMs: number;
  /** Distinct keys (uniform). */
  readonly keys: number;
}

/** Runs `call` (which performs `perCall` checks) with `inFlight` calls outstanding for `ms`, returning checks done. */
async function loop(inFlight: number, ms: number, perCall: number, call: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms;
  let checks = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await call();
      checks += perCall;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return checks;
}

async function measure(redis: BenchRedis, script: string, batch: number, o: ScriptCostOptions, call: () => Promise<unknown>): Promise<ScriptCostRow> {
  await loop(o.inFlight, o.warmMs, batch, call);
  const { result: checks, elapsedMs: elapsed, nodeCpuUs, before, after } = await measuredWindow(redis, () => loop(o.inFlight, o.durationMs, batch, call));
  const s = commandDelta(before, after, 'evalsha');
  const e = commandDelta(before, after, 'eval');
  const per = (v: number): number => (checks > 0 ? v / checks : NaN);
  return {
    script,
    batch,
    inFlight: o.inFlight,
    checksPerSec: (checks * 1000) / elapsed,
    redisCpuUs: per(after.cpuUs - before.cpuUs),
    scriptUs: per(s.usec + e.usec),
    nodeCpuUs: per(nodeCpuUs),
  };
}

/**
 * Measures tollgate's script at each batch size, then each per-call
 * contender, all under a limit that never denies.
 */
export async function measureScriptCost(redis: BenchRedis, perCall: readonly ContenderSpec[], limit: BenchLimit, interval: number, o: ScriptCostOptions): Promise<ScriptCostRow[]> {
  const rows: ScriptCostRow[] = [];
  const key = (): string => `user:${(Math.random() * o.keys) | 0}`;
  const client: Redis = redis.client();
  try {
    for (const batch of o.sizes) {
      await redis.flush();
      const call = (): Promise<unknown> => {
        const checks: Check[] = Array.from({ length: batch }, () => ({ mode: 'all', items: [{ key: key(), interval, burst: limit.rate, cost: 1 }] }));
        const { keys, args } = encodeBatch(checks, 'tollgate:', undefined);
        return gcra.run(client, keys, args);
      };
      rows.push(await measure(redis, 'tollgate gcra.lua', batch, o, call));
    }
  } finally {
    client.disconnect();
  }
  for (const spec of perCall) {
    await redis.flush();
    const c = await spec.create(redis, limit);
    try {
      rows.push(await measure(redis, spec.id, 1, o, () => c.check(key())));
    } finally {
      await c.close();
    }
  }
  return rows;
}
