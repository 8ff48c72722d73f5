/**
 * Test helper: reads `INFO commandstats` of a harness Redis, so tests can
 * prove which commands reached the server (e.g. no EVAL after a non-NOSCRIPT
 * error, nothing at all after invalid input).
 */
import type { Redis } from 'ioredis';

/** Call counters of one command, as Redis reports them. */
export interface CommandStat {
  /** Times the command ran (including calls that failed while running, e.g. NOSCRIPT). */
  readonly calls: number;
  /** Calls that failed while running. */
  readonly failed: number;
  /** Calls rejected before running. */
  readonly rejected: number;
}

/** Returns the counters of every command seen since the last `CONFIG RESETSTAT`, by lowercase name. */
export async function commandStats(client: Redis): Promise<Map<string, CommandStat>> {
  const info = await client.info('commandstats');
  const stats = new Map<string, CommandStat>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):(.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const fields = new Map(m[2].split(',').map((kv) => kv.split('=') as [string, string]));
    stats.set(m[1], {
      calls: Number(fields.get('calls') ?? 0),
      failed: Number(fields.get('failed_calls') ?? 0),
      rejected: Number(fields.get('rejected_calls') ?? 0),
    });
  }
  return stats;
}

/** Calls of one command since the last reset (0 when it never ran). */
export async function callsOf(client: Redis, command: string): Promise<number> {
  return (await commandStats(client)).get(command)?.calls ?? 0;
}

/** Resets the server's command statistics (`CONFIG RESETSTAT`). */
export async function resetStats(client: Redis): Promise<void> {
  await client.config('RESETSTAT');
}
