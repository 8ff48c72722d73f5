/**
 * The libraries the store benchmark compares, behind one small interface:
 * tollgate (RedisStore through Limiter.allow), rate-limiter-flexible
 * (RateLimiterRedis over ioredis, with and without its in-memory block list)
 * and the naive one-EVALSHA-per-check GCRA client.
 */
import { once } from 'node:events';
import type { Redis, RedisOptions } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Limit, RedisStore, RedisStoreOptions } from '../../src/index.js';
import type { TollgateModule } from './build.js';
import type { BenchRedis } from './redis.js';
import { NaiveGcra } from './naive-gcra.js';
import { resolveLimit } from '../../src/limits.js';
import { safetySettings } from '../../src/pool.js';

/** Resolves once `client` is connected (a client without an offline queue fails commands sent before). */
export async function ready(client: Redis): Promise<void> {
  if (client.status !== 'ready') await once(client, 'ready');
}

/** A bench limit's emission interval (µs) and burst, as the GCRA scripts take them. */
export function resolveLimitUs(limit: BenchLimit): { interval: number; burst: number } {
  const r = resolveLimit({ rate: limit.rate, period: limit.periodMs });
  return { interval: r.interval, burst: r.burst };
}

/** A limit every contender applies to every key: `rate` checks per `periodMs`. */
export interface BenchLimit {
  /** Checks allowed per period (also the burst). */
  readonly rate: number;
  /** Period in ms (a whole number of seconds, for rate-limiter-flexible). */
  readonly periodMs: number;
}

/** How the tollgate store is built. Options the store does not support yet are left out. */
export interface TollgateSettings {
  /** `pool.size` for a store that owns its connections; undefined = the store's default. */
  readonly poolSize?: number;
  /** `false` turns the deny cache off; undefined = the store's default. */
  readonly denyCache?: false;
  /** `denyCache.maxEntries`; undefined = the store's default. Ignored when the cache is off. */
  readonly denyCacheEntries?: number;
  /** `timeout` (ms) per store call. */
  readonly timeoutMs: number;
}

/** A contender instance, ready to check keys. */
export interface Contender {
  /** Takes `cost` units (default 1) from `key`; resolves true when allowed, false when denied. */
  check(key: string, cost?: number): Promise<boolean>;
  /** Releases connections. */
  close(): Promise<void>;
  /** The Redis key a library keeps for `key` (for preloading state). */
  redisKey(key: string): string;
  /** The command (lowercase, as in INFO commandstats) that runs exactly once for every check reaching Redis. */
  readonly perCheckCommand: string;
  /** How it was configured, for the report. */
  readonly notes: string;
  /**
   * rate-limiter-flexible with its block list: the list's internal Map
   * (Redis key -> expiry, epoch ms), when reachable; used only to preload it.
   */
  readonly blockList?: Map<string, number>;
}

/** A library under test. */
export interface ContenderSpec {
  /** Short id used in tables and JSON. */
  readonly id: ContenderId;
  /** Human-readable name. */
  readonly label: string;
  /** Builds a fresh instance for one run. */
  create(redis: BenchRedis, limit: BenchLimit): Promise<Contender>;
}

/** The contenders' ids. */
export type ContenderId = 'tollgate' | 'rlf' | 'rlf-block' | 'naive';

/**
 * Builds tollgate's store. Prefers a store that owns a connection pool
 * (`{ url, pool, timeout, denyCache }`); falls back to `{ client }` over one
 * ioredis connection when this RedisStore does not accept `url` yet.
 */
export function createTollgateStore(
  { RedisStore, LimiterError, ErrorCodes }: TollgateModule,
  redis: BenchRedis,
  settings: TollgateSettings,
): { store: RedisStore; mode: string; close(): Promise<void> } {
  const extra: Record<string, unknown> = { timeout: settings.timeoutMs };
  if (settings.denyCache === false) extra.denyCache = false;
  else if (settings.denyCacheEntries !== undefined) extra.denyCache = { maxEntries: settings.denyCacheEntries };
  const pooled: Record<string, unknown> = { url: redis.url, ...extra };
  if (settings.poolSize !== undefined) pooled.pool = { size: settings.poolSize };
  try {
    const store = new RedisStore(pooled as unknown as RedisStoreOptions);
    return { store, mode: `url${settings.poolSize === undefined ? ' (default pool)' : ` (pool.size ${settings.poolSize})`}`, close: () => store.close() };
  } catch (error) {
    const unsupported = error instanceof LimiterError && error.code === ErrorCodes.INVALID_OPTION && error.message.includes('"client"');
    if (!unsupported) throw error;
  }
  const client = redis.client();
  const store = new RedisStore({ client, ...extra } as unknown as RedisStoreOptions);
  return {
    store,
    mode: 'client (one ioredis connection)',
    async close() {
      await store.close();
      client.disconnect();
    },
  };
}

function denyCacheNote(settings: TollgateSettings): string {
  if (settings.denyCache === false) return ', denyCache off';
  return settings.denyCacheEntries === undefined ? '' : `, denyCache.maxEntries ${settings.denyCacheEntries}`;
}

/** tollgate: RedisStore through Limiter.allow, from `mod` (compiled or source, see build.ts). */
export function tollgate(mod: TollgateModule, settings: TollgateSettings): ContenderSpec {
  return {
    id: 'tollgate',
    label: 'tollgate',
    async create(redis, limit) {
      const { store, mode, close } = createTollgateStore(mod, redis, settings);
      const limiter = new mod.Limiter({ store });
      const l: Limit = { rate: limit.rate, period: limit.periodMs };
      const prefix = store.prefix;
      return {
        check: async (key, cost = 1) => (await limiter.allow(key, l, { cost })).allowed,
        close,
        redisKey: (key) => prefix + key,
        perCheckCommand: 'get',
        notes: `RedisStore ${mode}${denyCacheNote(settings)}`,
      };
    },
  };
}

/** How rate-limiter-flexible's ioredis client is set up (the bench's fairness experiments vary it). */
export interface RlfClientSetup {
  /** ioredis options on top of host and port; undefined = ioredis's defaults. */
  readonly options?: RedisOptions;
  /** What the options are, for the report. */
  readonly note: string;
}

/** ioredis's defaults: what a rate-limiter-flexible user gets from `new Redis(url)`. */
export const RLF_DEFAULT_CLIENT: RlfClientSetup = { note: 'ioredis defaults' };

/**
 * The settings tollgate's RedisStore gives the connections it opens (no
 * offline queue, no retried or re-sent commands): the store benchmark gives
 * every contender's connection the same ones. They only change what happens
 * when the connection fails; the fairness experiments measured no cost.
 */
export const SAME_CLIENT: RlfClientSetup = { options: safetySettings(), note: "tollgate's connection settings: enableOfflineQueue false, maxRetriesPerRequest 0" };

/**
 * A rate-limiter-flexible contender over one ioredis connection set up as
 * `setup` says (ioredis's defaults unless told otherwise).
 */
export function rlfSpec(block: boolean, setup: RlfClientSetup = SAME_CLIENT): ContenderSpec {
  return {
    id: block ? 'rlf-block' : 'rlf',
    label: block ? 'rate-limiter-flexible + inMemoryBlockOnConsumed' : 'rate-limiter-flexible',
    async create(redis, limit) {
      const client = redis.client(setup.options);
      await ready(client);
      const rl = new RateLimiterRedis({
        storeClient: client,
        useRedisPackage: false,
        points: limit.rate,
        duration: limit.periodMs / 1000,
        ...(block ? { inMemoryBlockOnConsumed: limit.rate } : {}),
      });
      const internal = (rl as unknown as { _inMemoryBlockedKeys?: { _keys?: unknown } })._inMemoryBlockedKeys?._keys;
      return {
        check: (key, cost = 1) =>
          rl.consume(key, cost).then(
            () => true,
            (reason: unknown) => {
              if (reason instanceof RateLimiterRes) return false;
              throw reason;
            },
          ),
        async close() {
          client.disconnect();
        },
        redisKey: (key) => rl.getKey(key),
        perCheckCommand: 'incrby',
        notes: `RateLimiterRedis + one ioredis connection (${setup.note}), useRedisPackage false${block ? `, inMemoryBlockOnConsumed ${limit.rate}` : ''}`,
        ...(block && internal instanceof Map ? { blockList: internal as Map<string, number> } : {}),
      };
    },
  };
}

/** rate-limiter-flexible's RateLimiterRedis over one ioredis connection with {@link SAME_CLIENT}'s settings. */
export const rlf: ContenderSpec = rlfSpec(false);

/** rate-limiter-flexible with `inMemoryBlockOnConsumed` = points (its local block list). */
export const rlfBlock: ContenderSpec = rlfSpec(true);

/** The naive one-EVALSHA-per-check GCRA client. */
export const naive: ContenderSpec = {
  id: 'naive',
  label: 'naive GCRA (EVALSHA per check)',
  async create(redis, limit) {
    const client = redis.client(SAME_CLIENT.options);
    await ready(client);
    const resolved = resolveLimitUs(limit);
    const prefix = 'naive:';
    const gcra = new NaiveGcra(client, { interval: resolved.interval, burst: resolved.burst }, prefix);
    return {
      check: (key, cost = 1) => gcra.check(key, cost),
      async close() {
        client.disconnect();
      },
      redisKey: (key) => prefix + key,
      perCheckCommand: 'get',
      notes: `bench/lib/naive-gcra.lua over one ioredis connection (${SAME_CLIENT.note})`,
    };
  },
};
