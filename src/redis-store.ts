/**
 * RedisStore: checks decided by lua/gcra.lua inside Redis, atomically, on the
 * server's clock (or a client clock when `now` is given).
 */
import type { Redis } from 'ioredis';
import { type Clock, checkClockOption, readClock } from './clock.js';
import { ErrorCodes, LimiterError, describe } from './errors.js';
import { objectOption } from './options.js';
import { decodeBatch, encodeBatch } from './redis-codec.js';
import { Script } from './script.js';
import type { Check, CheckOutcome, Store } from './store.js';

/** The GCRA script, loaded once per process. */
export const gcraScript = Script.fromFile('gcra.lua');

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** An ioredis client you own (the store never closes it). */
  readonly client: Redis;
  /** Prefix of every Redis key the store writes. Default `"tollgate:"`. */
  readonly prefix?: string;
  /** Client clock in integer µs. Default: the Redis server's `TIME`. */
  readonly now?: Clock;
}

/** Wraps anything a Redis call threw into a LimiterError (code ERR_STORE unless already typed). */
export function toStoreError(error: unknown): LimiterError {
  if (error instanceof LimiterError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new LimiterError(ErrorCodes.STORE, `Redis call failed: ${message}`, { cause: error });
}

/** A store whose decisions are made by Lua scripts running atomically in Redis. */
export class RedisStore implements Store {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #clock: Clock | undefined;

  /** Creates a store over an ioredis client; throws ERR_INVALID_OPTION on a bad option. */
  constructor(options: RedisStoreOptions) {
    const o = objectOption('RedisStore', options);
    const client = o.client as Redis | undefined;
    if (typeof client !== 'object' || client === null || typeof client.evalsha !== 'function') {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `RedisStore option "client" must be an ioredis client, got ${describe(client)}`);
    }
    if (o.prefix !== undefined && typeof o.prefix !== 'string') {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `RedisStore option "prefix" must be a string, got ${describe(o.prefix)}`);
    }
    this.#client = client;
    this.#prefix = (o.prefix as string | undefined) ?? 'tollgate:';
    this.#clock = checkClockOption('RedisStore', o.now);
  }

  /** The key prefix in use. */
  get prefix(): string {
    return this.#prefix;
  }

  /** Evaluates one check with one script call. */
  async evaluate(check: Check): Promise<CheckOutcome> {
    const now = this.#clock ? readClock(this.#clock) : undefined;
    const { keys, args } = encodeBatch([check], this.#prefix, now);
    let reply: unknown;
    try {
      reply = await gcraScript.run(this.#client, keys, args);
    } catch (error) {
      throw toStoreError(error);
    }
    const [outcome] = decodeBatch(reply, [check]);
    if (outcome === undefined) throw new LimiterError(ErrorCodes.STORE, 'empty reply from the tollgate script');
    if (outcome instanceof LimiterError) throw outcome;
    return outcome;
  }

  /** Deletes the keys' state in Redis. */
  async reset(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      // One DEL per key: keys may live in different cluster slots.
      await Promise.all(keys.map((key) => this.#client.del(this.#prefix + key)));
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** The client is the caller's: closing the store leaves it open. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
