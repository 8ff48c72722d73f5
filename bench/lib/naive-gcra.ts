/**
 * Benchmark baseline: a naive GCRA client that sends one EVALSHA of
 * naive-gcra.lua per check over one ioredis connection, the way most Node
 * limiters work. No batching, no local cache.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const source = readFileSync(new URL('./naive-gcra.lua', import.meta.url), 'utf8');
const sha = createHash('sha1').update(source).digest('hex');

/** A limit in the script's terms: emission interval T in µs and burst B. */
export interface NaiveLimit {
  /** Emission interval T, integer µs >= 1. */
  readonly interval: number;
  /** Burst B, integer >= 1. */
  readonly burst: number;
}

/** One EVALSHA per check; EVAL once when the server answers NOSCRIPT. */
export class NaiveGcra {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #interval: string;
  readonly #burst: string;

  /** @param client - an ioredis client the caller owns; @param limit - the one limit applied to every key */
  constructor(client: Redis, limit: NaiveLimit, prefix = 'naive:') {
    this.#client = client;
    this.#prefix = prefix;
    this.#interval = String(limit.interval);
    this.#burst = String(limit.burst);
  }

  /** Takes `cost` units from `key`; resolves true when allowed. */
  async check(key: string, cost = 1): Promise<boolean> {
    const k = this.#prefix + key;
    const n = String(cost);
    let reply: unknown;
    try {
      reply = await this.#client.evalsha(sha, 1, k, this.#interval, this.#burst, n);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      reply = await this.#client.eval(source, 1, k, this.#interval, this.#burst, n);
    }
    return Array.isArray(reply) && reply[0] === 1;
  }
}
