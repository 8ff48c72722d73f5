/**
 * MemoryStore: every kind of limit in-process (src/kinds.ts), with exactly
 * the semantics of the Redis script. The embedded default when no Redis is
 * configured. Bounded: at most `maxKeys` keys of all kinds; expired keys are
 * reclaimed as writes go by, and when the store is full the least recently
 * written key of the kind being written is evicted (for a concurrency key,
 * with its leases).
 */
import { type Clock, checkClockOption, processClock, readClock } from './clock.js';
import { ErrorCodes, LimiterError } from './errors.js';
import { evaluateCheck } from './kinds.js';
import { LeaseSets } from './lease-sets.js';
import { integerOption, objectOption } from './options.js';
import type { AnyCheck, AnyOutcome, Check, CheckOutcome, Store } from './store.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Clock in integer µs since the epoch. Default: the process clock. */
  readonly now?: Clock;
  /** Most keys held at once (>= 1). Default 100,000. */
  readonly maxKeys?: number;
}

/** How many of the oldest entries each write inspects for expiry. */
const SWEEP_PER_WRITE = 2;

/** An in-process store; answers synchronously-fast, shares nothing across processes. */
export class MemoryStore implements Store {
  /** key -> TAT (µs). Map order = order of last write, oldest first. */
  readonly #tats = new Map<string, number>();
  /** Concurrency keys -> their leases. */
  readonly #leases = new LeaseSets();
  readonly #clock: Clock;
  readonly #maxKeys: number;

  /** Creates a store; throws ERR_INVALID_OPTION on a bad option. */
  constructor(options?: MemoryStoreOptions) {
    const o = objectOption('MemoryStore', options);
    this.#clock = checkClockOption('MemoryStore', o.now) ?? processClock;
    this.#maxKeys = integerOption('MemoryStore', 'maxKeys', o.maxKeys, 100_000, 1);
  }

  /** Number of keys currently held, of every kind (expired ones may still be counted until reclaimed). */
  get size(): number {
    return this.#tats.size + this.#leases.size;
  }

  /** Evaluates a check in-process. */
  evaluate(check: Check): Promise<CheckOutcome>;
  evaluate(check: AnyCheck): Promise<AnyOutcome>;
  evaluate(check: AnyCheck): Promise<AnyOutcome> {
    try {
      return Promise.resolve(this.evaluateSync(check));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Synchronous form of {@link evaluate}, for callers that can use it (e.g. failure fallback). */
  evaluateSync(check: Check): CheckOutcome;
  evaluateSync(check: AnyCheck): AnyOutcome;
  evaluateSync(check: AnyCheck): AnyOutcome {
    if (check.mode === 'atMost' && check.items.length !== 1) {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `an "atMost" check takes exactly one item, got ${check.items.length}`);
    }
    const now = readClock(this.#clock);
    const tats = this.#tats;
    const leases = this.#leases;
    const result = evaluateCheck(check, now, {
      concurrency: {
        read: (key) => leases.read(key, now),
        holds: (key, lease) => leases.holds(key, lease, now),
        put: (key, lease, expiresAt, keepFor) => {
          leases.put(key, lease, expiresAt, keepFor);
          leases.reclaim(now, SWEEP_PER_WRITE, () => this.size > this.#maxKeys);
        },
        remove: (key, lease) => leases.remove(key, lease),
      },
      rate: {
        get: (key) => {
          const tat = tats.get(key);
          return tat !== undefined && tat > now ? tat : undefined;
        },
        set: (key, tat) => {
          tats.delete(key);
          tats.set(key, tat);
          this.#reclaim(now);
        },
      },
    });
    return { allowed: result.allowed, now, items: result.items, source: 'memory' };
  }

  /** Deletes keys so they start with a full bucket. */
  reset(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      this.#tats.delete(key);
      this.#leases.delete(key);
    }
    return Promise.resolve();
  }

  /** Drops every key. */
  clear(): void {
    this.#tats.clear();
    this.#leases.clear();
  }

  /** Nothing to release; present for the Store interface. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #reclaim(now: number): void {
    let inspected = 0;
    for (const [key, tat] of this.#tats) {
      if (this.size > this.#maxKeys) {
        this.#tats.delete(key); // full: evict the least recently written key
      } else if (tat <= now && inspected < SWEEP_PER_WRITE) {
        this.#tats.delete(key); // expired: its bucket is full again, same as absent
      } else {
        break;
      }
      inspected += 1;
    }
  }
}
