/**
 * The benchmark's own Redis: a throwaway redis-server on a free loopback port
 * (started by the test harness, never 6379), plus the admin calls a benchmark
 * needs: server CPU time (`INFO cpu`), per-command stats (`INFO commandstats`),
 * and FLUSHALL between runs (safe: nobody else uses this server).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { type RedisProcess, startRedis } from '../../test/helpers/redis-server.js';

/** Cumulative calls and microseconds of one Redis command, from `INFO commandstats`. */
export interface CommandStat {
  /** Times the command ran. */
  readonly calls: number;
  /** Total µs spent executing it (inside Redis, excluding I/O). */
  readonly usec: number;
}

/** A snapshot of the server counters a benchmark run compares before and after. */
export interface ServerCounters {
  /** used_cpu_user + used_cpu_sys of the redis-server process, in µs. */
  readonly cpuUs: number;
  /** Per-command stats keyed by lowercase command name (e.g. `evalsha`). */
  readonly commands: ReadonlyMap<string, CommandStat>;
}

/** A running benchmark Redis. */
export interface BenchRedis {
  /** Loopback port. */
  readonly port: number;
  /** redis://127.0.0.1:port */
  readonly url: string;
  /**
   * A new ioredis client to this server, with ioredis's defaults or with
   * `options` on top of host and port; closed by {@link BenchRedis.stop}.
   */
  client(options?: RedisOptions): Redis;
  /** Reads the CPU and command counters. */
  counters(): Promise<ServerCounters>;
  /** Deletes every key (this server belongs to the benchmark alone) and resets INFO commandstats. */
  flush(): Promise<void>;
  /** Number of keys in the database. */
  dbsize(): Promise<number>;
  /** `INFO <section>` text. */
  info(section: string): Promise<string>;
  /** Stops the server and every client handed out. */
  stop(): Promise<void>;
}

/** Parses `INFO cpu` text into used_cpu_user + used_cpu_sys in µs. */
export function parseCpuUs(info: string): number {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info);
    if (!m || m[1] === undefined) throw new Error(`INFO cpu has no ${name}`);
    return Number(m[1]);
  };
  return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6);
}

/** Parses `INFO commandstats` text into a map of command name to calls and µs. */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const m of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Calls and µs of `name` between two snapshots (0 when it never ran). */
export function commandDelta(before: ServerCounters, after: ServerCounters, name: string): CommandStat {
  const a = before.commands.get(name) ?? { calls: 0, usec: 0 };
  const b = after.commands.get(name) ?? { calls: 0, usec: 0 };
  return { calls: b.calls - a.calls, usec: b.usec - a.usec };
}

/** What {@link measuredWindow} measured around one run. */
export interface MeasuredWindow<T> {
  /** What the run returned. */
  readonly result: T;
  /** Wall time of the run, ms. */
  readonly elapsedMs: number;
  /** This process's CPU time (user + system) during the run, µs. */
  readonly nodeCpuUs: number;
  /** The server's counters just before and just after the run. */
  readonly before: ServerCounters;
  readonly after: ServerCounters;
}

/** Runs `run` between two readings of `redis`'s counters, timing it and this process's CPU. */
export async function measuredWindow<T>(redis: BenchRedis, run: () => Promise<T>): Promise<MeasuredWindow<T>> {
  const before = await redis.counters();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await run();
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await redis.counters();
  return { result, elapsedMs, nodeCpuUs: cpu.user + cpu.system, before, after };
}

/** Starts a throwaway redis-server for a benchmark. */
export async function startBenchRedis(): Promise<BenchRedis> {
  const server: RedisProcess = await startRedis();
  if (server.port === 6379) {
    await server.stop();
    throw new Error('refusing to benchmark on port 6379');
  }
  const admin = server.client();
  const own: Redis[] = [];
  return {
    port: server.port,
    url: server.url,
    client(options?: RedisOptions) {
      if (options === undefined) return server.client();
      const c = new Redis({ ...options, host: '127.0.0.1', port: server.port });
      own.push(c);
      return c;
    },
    async counters() {
      const [cpu, stats] = await Promise.all([admin.info('cpu'), admin.info('commandstats')]);
      return { cpuUs: parseCpuUs(cpu), commands: parseCommandStats(stats) };
    },
    async flush() {
      await admin.flushall();
      await admin.config('RESETSTAT');
    },
    dbsize: () => admin.dbsize(),
    info: (section) => admin.info(section),
    async stop() {
      for (const c of own) c.disconnect();
      await server.stop();
    },
  };
}
