/**
 * The native floor of a rate-limit check (issue 15): what Redis spends on the
 * read and the write a check needs when a client sends them as plain
 * commands, pipelined (GET key + SET key value PX ttl pairs on uniform keys,
 * several pipelines in flight), measured in the same run as tollgate's own
 * checks through its public API (the built module) at a fixed concurrency:
 * one GCRA limit, a compound check of two limits (allowAll), a calendar quota
 * and a concurrency acquire+release. Ratios to the floor are taken within a
 * round; the pure summarising helpers are unit-tested.
 */
import type { Redis } from 'ioredis';
import type { TollgateModule } from './build.js';
import { type BenchRedis, commandDelta, measuredWindow } from './redis.js';
import { ready } from './contenders.js';
import { runLoad } from './load.js';
import { median, ratio } from './stats.js';

/** One native-floor measurement: pipelines of `pairs` GET+SET pairs, `inFlight` pipelines outstanding. */
export interface FloorRow {
  /** Round number, from 1. */
  readonly round: number;
  /** GET+SET pairs per pipeline. */
  readonly pairs: number;
  /** Pipelines in flight. */
  readonly inFlight: number;
  /** Pairs per second. */
  readonly pairsPerSec: number;
  /** redis-server CPU (INFO cpu: used_cpu_user + used_cpu_sys) per pair, µs. */
  readonly redisCpuUs: number;
  /** INFO commandstats µs of GET + SET per pair (command execution only, no I/O). */
  readonly commandUs: number;
  /** Node process CPU per pair, µs. */
  readonly nodeCpuUs: number;
}

/** The tollgate items measured against the floor. */
export type ItemId = 'single' | 'compound' | 'quota' | 'concurrency';

/** One tollgate item measurement at a fixed concurrency. */
export interface ItemRow {
  /** Round number, from 1. */
  readonly round: number;
  /** Which item. */
  readonly item: ItemId;
  /** Checks in flight (closed loop). */
  readonly concurrency: number;
  /** Checks per second (for concurrency: acquire+release pairs per second). */
  readonly checksPerSec: number;
  /** redis-server CPU per check (per acquire+release pair), µs. */
  readonly redisCpuUs: number;
  /** Script calls (EVALSHA + EVAL) per check. */
  readonly callsPerCheck: number;
  /** Checks that were denied or threw (should be 0: every limit is out of reach). */
  readonly failed: number;
}

/** How each item's Redis CPU compares with the floor: medians of same-round ratios. */
export interface FloorSummary {
  /** Median floor (µs of Redis CPU per GET+SET pair), over rounds, of the floor each round took. */
  readonly floorUs: number;
  /** Per pipeline size: median Redis CPU per pair and commandstats µs per pair. */
  readonly floors: readonly { readonly pairs: number; readonly inFlight: number; readonly redisCpuUs: number; readonly commandUs: number; readonly pairsPerSec: number }[];
  /** Per item: median Redis CPU per check, and the median of same-round ratios to that round's floor. */
  readonly items: readonly {
    readonly item: ItemId;
    readonly concurrency: number;
    readonly checksPerSec: number;
    readonly redisCpuUs: number;
    readonly callsPerCheck: number;
    readonly keys: number;
    readonly ratio: number;
    readonly ratioPerKey: number;
    readonly failed: number;
  }[];
}

/** Keys each item's check touches (a compound check of two limits: two). */
export const ITEM_KEYS: Record<ItemId, number> = { single: 1, compound: 2, quota: 1, concurrency: 1 };

/** What each item is, for the report. */
export const ITEM_LABELS: Record<ItemId, string> = {
  single: 'one GCRA limit (limiter.allow)',
  compound: 'two GCRA limits (limiter.allowAll)',
  quota: "a daily quota (limiter.allow with quota(n, 'day'))",
  concurrency: 'concurrency acquire + release (limiter.acquire, lease.release)',
};

/** The floor of a round: the lowest Redis CPU per pair over the pipeline sizes measured (the strictest floor). */
export function floorOfRound(rows: readonly FloorRow[], round: number): number {
  const xs = rows.filter((r) => r.round === round && Number.isFinite(r.redisCpuUs) && r.redisCpuUs > 0).map((r) => r.redisCpuUs);
  return xs.length > 0 ? Math.min(...xs) : NaN;
}

/** Medians of the floor and item rows, with each item's Redis CPU as a same-round ratio to the floor. */
export function summarizeFloor(floorRows: readonly FloorRow[], itemRows: readonly ItemRow[]): FloorSummary {
  const rounds = [...new Set(floorRows.map((r) => r.round))];
  const floorUs = median(rounds.map((r) => floorOfRound(floorRows, r)));
  const sizes = [...new Set(floorRows.map((r) => `${r.pairs}|${r.inFlight}`))];
  const floors = sizes.map((k) => {
    const list = floorRows.filter((r) => `${r.pairs}|${r.inFlight}` === k);
    const first = list[0] as FloorRow;
    return {
      pairs: first.pairs,
      inFlight: first.inFlight,
      redisCpuUs: median(list.map((r) => r.redisCpuUs)),
      commandUs: median(list.map((r) => r.commandUs)),
      pairsPerSec: median(list.map((r) => r.pairsPerSec)),
    };
  });
  const ids = [...new Set(itemRows.map((r) => `${r.item}|${r.concurrency}`))];
  const items = ids.map((k) => {
    const list = itemRows.filter((r) => `${r.item}|${r.concurrency}` === k);
    const first = list[0] as ItemRow;
    const ratios = list.map((r) => ratio(r.redisCpuUs, floorOfRound(floorRows, r.round)));
    const keys = ITEM_KEYS[first.item];
    return {
      item: first.item,
      concurrency: first.concurrency,
      checksPerSec: median(list.map((r) => r.checksPerSec)),
      redisCpuUs: median(list.map((r) => r.redisCpuUs)),
      callsPerCheck: median(list.map((r) => r.callsPerCheck)),
      keys,
      ratio: median(ratios),
      ratioPerKey: median(ratios.map((v) => v / keys)),
      failed: list.reduce((s, r) => s + r.failed, 0),
    };
  });
  return { floorUs, floors, items };
}

/** Bounds of one measurement. */
export interface FloorOptions {
  /** Pipeline sizes (GET+SET pairs per pipeline). */
  readonly pairs: readonly number[];
  /** Pipelines in flight. */
  readonly inFlight: number;
  /** Distinct keys (uniform). */
  readonly keys: number;
  /** Key lifetime of the SETs (PX), ms. */
  readonly ttlMs: number;
  /** Warm-up ms before each measurement. */
  readonly warmMs: number;
  /** ms per measurement. */
  readonly durationMs: number;
  /** Most pipelines sent per measurement. */
  readonly maxPipelines: number;
}

/** Sends pipelines of `pairs` GET+SET PX pairs, `inFlight` at a time, for `ms` (or `max` pipelines); returns pairs done. */
async function pipelines(client: Redis, pairs: number, inFlight: number, ms: number, max: number, keys: number, ttlMs: number): Promise<number> {
  const end = performance.now() + ms;
  let sent = 0;
  let done = 0;
  const ttl = String(ttlMs);
  const worker = async (): Promise<void> => {
    while (sent < max && performance.now() < end) {
      sent += 1;
      const p = client.pipeline();
      for (let i = 0; i < pairs; i += 1) {
        const key = `floor:user:${(Math.random() * keys) | 0}`;
        // A value of a GCRA state's size (a theoretical arrival time in µs).
        p.get(key).set(key, String(Date.now() * 1000 + i), 'PX', ttl);
      }
      const replies = await p.exec();
      const failed = replies?.find(([error]) => error !== null);
      if (failed) throw failed[0];
      done += pairs;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return done;
}

/** Measures the native floor at each pipeline size, on a flushed Redis. */
export async function measureFloor(redis: BenchRedis, round: number, o: FloorOptions): Promise<FloorRow[]> {
  const rows: FloorRow[] = [];
  const client = redis.client();
  await ready(client);
  try {
    for (const pairs of o.pairs) {
      await redis.flush();
      await pipelines(client, pairs, o.inFlight, o.warmMs, o.maxPipelines, o.keys, o.ttlMs);
      const { result: done, elapsedMs: elapsed, nodeCpuUs, before, after } = await measuredWindow(redis, () =>
        pipelines(client, pairs, o.inFlight, o.durationMs, o.maxPipelines, o.keys, o.ttlMs),
      );
      const get = commandDelta(before, after, 'get');
      const set = commandDelta(before, after, 'set');
      const per = (v: number): number => (done > 0 ? v / done : NaN);
      rows.push({
        round,
        pairs,
        inFlight: o.inFlight,
        pairsPerSec: (done * 1000) / elapsed,
        redisCpuUs: per(after.cpuUs - before.cpuUs),
        commandUs: per(get.usec + set.usec),
        nodeCpuUs: per(nodeCpuUs),
      });
    }
  } finally {
    client.disconnect();
  }
  return rows;
}

/** Bounds of an item measurement. */
export interface ItemOptions {
  /** Checks in flight. */
  readonly concurrency: number;
  /** Distinct keys (uniform) per key space. */
  readonly keys: number;
  /** Warm-up ms. */
  readonly warmMs: number;
  /** ms per measurement. */
  readonly durationMs: number;
  /** Most checks per measurement. */
  readonly maxChecks: number;
}

/**
 * Builds the check of `item` through tollgate's public API: every limit is
 * far out of reach, so every check is allowed and writes its key(s).
 */
function itemCheck(mod: TollgateModule, limiter: InstanceType<TollgateModule['Limiter']>, item: ItemId, keys: number): (key: string) => Promise<boolean> {
  const rate = { rate: 1_000_000_000, period: 60_000 };
  switch (item) {
    case 'single':
      return async (key) => (await limiter.allow(key, rate)).allowed;
    case 'compound': {
      const tenant = { rate: 1_000_000_000, period: 3_600_000 };
      return async (key) => (await limiter.allowAll([{ key, limit: rate }, { key: `tenant:${(Math.random() * keys) | 0}`, limit: tenant }])).allowed;
    }
    case 'quota': {
      const daily = mod.quota(1_000_000_000, 'day');
      return async (key) => (await limiter.allow(key, daily)).allowed;
    }
    case 'concurrency': {
      const leases = mod.concurrency(1_000_000, { ttl: 60_000 });
      return async (key) => {
        const lease = await limiter.acquire(key, leases);
        if (!lease.allowed) return false;
        return lease.release();
      };
    }
  }
}

/** Measures one tollgate item at `o.concurrency` on a flushed Redis, through a RedisStore with its defaults. */
export async function measureItem(mod: TollgateModule, redis: BenchRedis, round: number, item: ItemId, o: ItemOptions): Promise<ItemRow> {
  await redis.flush();
  const store = new mod.RedisStore({ url: redis.url, timeout: 5_000 });
  const limiter = new mod.Limiter({ store });
  try {
    const check = itemCheck(mod, limiter, item, o.keys);
    const ids = Array.from({ length: o.keys }, (_, i) => `user:${i}`);
    const nextKey = (): string => ids[(Math.random() * ids.length) | 0] as string;
    await runLoad({ concurrency: o.concurrency, durationMs: o.warmMs, maxChecks: o.maxChecks, nextKey, check });
    const before = await redis.counters();
    const r = await runLoad({ concurrency: o.concurrency, durationMs: o.durationMs, maxChecks: o.maxChecks, nextKey, check });
    const after = await redis.counters();
    const calls = commandDelta(before, after, 'evalsha').calls + commandDelta(before, after, 'eval').calls;
    return {
      round,
      item,
      concurrency: o.concurrency,
      checksPerSec: r.checksPerSec,
      redisCpuUs: r.checks > 0 ? (after.cpuUs - before.cpuUs) / r.checks : NaN,
      callsPerCheck: r.checks > 0 ? calls / r.checks : NaN,
      failed: r.denied + r.errors,
    };
  } finally {
    await store.close();
  }
}
