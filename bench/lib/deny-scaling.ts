/**
 * How the cost of a denied key behaves as a process holds more of them: for
 * 1k, 10k and 100k denied keys, measures (a) inserting new denied keys (a check
 * that Redis denies for the first time, so the local list/cache takes the key)
 * and (b) looking up keys already held locally. Compares tollgate's deny cache
 * with rate-limiter-flexible's in-memory block list.
 */
import type { Contender, ContenderSpec, BenchLimit } from './contenders.js';
import { runLoad } from './load.js';
import { type BenchRedis, commandDelta } from './redis.js';

/** Sizes and bounds of the measurement. */
export interface ScalingOptions {
  /** Denied-key counts to measure at. */
  readonly levels: readonly number[];
  /** Most new denied keys inserted per measurement. */
  readonly insertMax: number;
  /** Most ms spent inserting per measurement. */
  readonly insertMs: number;
  /** ms spent on lookups per measurement. */
  readonly lookupMs: number;
  /** Most ms spent filling a level through the public API (only when no faster preload exists). */
  readonly fillMs: number;
  /** In-flight checks. */
  readonly concurrency: number;
  /** Most lookups per measurement. */
  readonly maxChecks: number;
}

/** One measurement: one library at one level. */
export interface ScalingRow {
  /** Contender id. */
  readonly lib: string;
  /** Denied keys held before inserting. */
  readonly level: number;
  /** How the level was reached: `api` (checks through the library) or `preload` (rate-limiter-flexible's Map written directly). */
  readonly fill: 'api' | 'preload';
  /** Checks/s while filling through the API (each one a first denial), or NaN for a preload. */
  readonly fillPerSec: number;
  /** New denied keys inserted per second. */
  readonly insertPerSec: number;
  /** Node CPU µs per insert (round trip included). */
  readonly insertCpuUs: number;
  /** Inserts measured. */
  readonly inserts: number;
  /** Lookups of held denied keys per second. */
  readonly lookupPerSec: number;
  /** Node CPU µs per lookup. */
  readonly lookupCpuUs: number;
  /** Share of lookups answered without reaching Redis. */
  readonly lookupLocal: number;
  /** Share of all measured checks that were denied (should be 1). */
  readonly deniedShare: number;
}

const BATCH = 5000;

/** Writes exhausted state for `keys` into Redis so the next check of each is denied there. */
async function preloadRedis(redis: BenchRedis, spec: ContenderSpec, c: Contender, keys: readonly string[], limit: BenchLimit): Promise<void> {
  const admin = redis.client();
  try {
    const [sec, usec] = (await admin.time()) as [number | string, number | string];
    const nowUs = Number(sec) * 1_000_000 + Number(usec);
    const periodUs = limit.periodMs * 1000;
    for (let i = 0; i < keys.length; i += BATCH) {
      const pipe = admin.pipeline();
      for (const key of keys.slice(i, i + BATCH)) {
        if (spec.id === 'tollgate' || spec.id === 'naive') {
          // A TAT one whole period ahead: the bucket is empty.
          pipe.set(c.redisKey(key), String(nowUs + periodUs), 'PX', limit.periodMs);
        } else {
          // Consumed == points: the next consume goes past the limit.
          pipe.set(c.redisKey(key), String(limit.rate), 'PX', limit.periodMs);
        }
      }
      await pipe.exec();
    }
  } finally {
    admin.disconnect();
  }
}

/** Measures one library at one level on a flushed Redis. */
export async function measureLevel(redis: BenchRedis, spec: ContenderSpec, limit: BenchLimit, level: number, o: ScalingOptions): Promise<ScalingRow> {
  await redis.flush();
  const c = await spec.create(redis, limit);
  try {
    const held = Array.from({ length: level }, (_, i) => `d:${i}`);
    const fresh = Array.from({ length: o.insertMax }, (_, i) => `d:${level + i}`);
    await preloadRedis(redis, spec, c, [...held, ...fresh], limit);

    let fill: 'api' | 'preload' = 'api';
    let fillPerSec = NaN;
    let reached = level;
    if (c.blockList) {
      // rate-limiter-flexible scans its whole block list on every insert past
      // ~1,000 keys, so filling 100k keys through consume() takes minutes:
      // write the entries it would have written instead.
      fill = 'preload';
      const expires = Date.now() + limit.periodMs;
      for (const key of held) c.blockList.set(c.redisKey(key), expires);
    } else {
      let next = 0;
      const r = await runLoad({
        concurrency: o.concurrency,
        durationMs: o.fillMs,
        maxChecks: level,
        nextKey: () => held[next++] as string,
        check: (k) => c.check(k),
      });
      if (r.errors > 0) throw r.firstError;
      fillPerSec = r.checksPerSec;
      reached = r.checks;
    }

    let next = 0;
    const insert = await runLoad({
      concurrency: o.concurrency,
      durationMs: o.insertMs,
      maxChecks: fresh.length,
      nextKey: () => fresh[next++] as string,
      check: (k) => c.check(k),
    });
    if (insert.errors > 0) throw insert.firstError;

    const before = await redis.counters();
    const lookup = await runLoad({
      concurrency: o.concurrency,
      durationMs: o.lookupMs,
      maxChecks: o.maxChecks,
      nextKey: () => held[(Math.random() * reached) | 0] as string,
      check: (k) => c.check(k),
    });
    const after = await redis.counters();
    if (lookup.errors > 0) throw lookup.firstError;
    const reachedRedis = commandDelta(before, after, c.perCheckCommand).calls;
    return {
      lib: spec.id,
      level: reached,
      fill,
      fillPerSec,
      insertPerSec: insert.checksPerSec,
      insertCpuUs: insert.nodeCpuUs / Math.max(1, insert.checks),
      inserts: insert.checks,
      lookupPerSec: lookup.checksPerSec,
      lookupCpuUs: lookup.nodeCpuUs / Math.max(1, lookup.checks),
      lookupLocal: lookup.checks > 0 ? 1 - reachedRedis / lookup.checks : NaN,
      deniedShare: (insert.denied + lookup.denied) / Math.max(1, insert.checks + lookup.checks),
    };
  } finally {
    await c.close();
  }
}
