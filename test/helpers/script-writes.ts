/**
 * Test helper: records the SET commands that Lua scripts run inside a harness
 * Redis, through MONITOR. This shows exactly what a check wrote (key, value,
 * PX) or that it wrote nothing, without relying on real-time TTL readings.
 */
import { Redis } from 'ioredis';

/** One `SET key value PX ms` run by a script. */
export interface ScriptSet {
  /** The full Redis key. */
  readonly key: string;
  /** The value written, exactly as sent. */
  readonly value: string;
  /** The PX argument, as sent (a string of digits). */
  readonly px: string;
}

/** Watches a harness Redis with MONITOR and collects the writes scripts make. */
export class ScriptWrites {
  readonly #monitor: Redis;
  readonly #seen: ScriptSet[] = [];
  readonly #other: string[][] = [];
  #marks = new Map<string, () => void>();
  #serial = 0;

  private constructor(monitor: Redis) {
    this.#monitor = monitor;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const [command, key, value, pxWord, px] = args;
      if (command?.toUpperCase() === 'ECHO' && key !== undefined && this.#marks.has(key)) {
        this.#marks.get(key)?.();
        this.#marks.delete(key);
        return;
      }
      if (source !== 'lua' || command?.toUpperCase() !== 'SET') {
        if (source === 'lua' && command?.toUpperCase() !== 'GET' && command?.toUpperCase() !== 'TIME') this.#other.push(args);
        return;
      }
      this.#seen.push({ key: key ?? '', value: value ?? '', px: pxWord?.toUpperCase() === 'PX' ? (px ?? '') : `(${pxWord ?? 'none'})` });
    });
  }

  /** Starts monitoring the Redis on `port` (127.0.0.1). */
  static async start(port: number): Promise<ScriptWrites> {
    const base = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    const monitor = await base.monitor();
    base.disconnect();
    return new ScriptWrites(monitor);
  }

  /**
   * Waits until every command `client` sent before this call has been seen
   * (an ECHO marker round-trips through MONITOR), then returns and forgets
   * the script SETs seen so far. Throws if a script ran a write other than SET.
   */
  async take(client: Redis): Promise<ScriptSet[]> {
    const mark = `script-writes-mark-${(this.#serial += 1)}`;
    const seen = new Promise<void>((resolve) => this.#marks.set(mark, resolve));
    await client.echo(mark);
    await Promise.race([
      seen,
      new Promise((_, reject) => setTimeout(() => reject(new Error('MONITOR did not show the marker within 5 s')), 5000).unref()),
    ]);
    if (this.#other.length > 0) throw new Error(`scripts ran unexpected commands: ${JSON.stringify(this.#other.splice(0))}`);
    return this.#seen.splice(0);
  }

  /** Stops monitoring. */
  close(): void {
    this.#monitor.disconnect();
  }
}
