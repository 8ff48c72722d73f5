/**
 * MemoryStore: every kind of limit in-process (src/kinds.ts), with exactly
 * the semantics of the Redis script. The embedded default when no Redis is
 * configured. Bounded: at most `maxKeys` keys of all kinds (TATs, lease
 * sets, quota counts); expired keys are reclaimed as writes go by, and when
 * the store is full the least recently written key of the kind being written
 * is evicted (for a concurrency key, with its leases).
 */
import { type Clock, checkClockOption, processClock, readClock } from './clock.js';
import { ErrorCodes, LimiterError } from './errors.js';
import { evaluateCheck } from './kinds.js';
import { LeaseSets } from './lease-sets.js';
import { integerOption, objectOption } from './options.js';
import type { QuotaState } from './quota.js';
import type { TatState } from './gcra.js';
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

/** A quota key's count for one window [start, end) (µs). */
interface QuotaEntry {
  readonly start: number;
  readonly end: number;
  readonly count: number;
}

/**
 * Evicts the oldest entries of `map` (in order of last write) while `full()`,
 * and deletes up to SWEEP_PER_WRITE of its oldest expired entries.
 */
function reclaim<V>(map: Map<string, V>, now: number, expiresAt: (value: V) => number, full: () => boolean): void {
  let inspected = 0;
  for (const [key, value] of map) {
    if (full()) {
      map.delete(key); // full: evict the least recently written key
    } else if (expiresAt(value) <= now && inspected < SWEEP_PER_WRITE) {
      map.delete(key); // expired: same as absent
    } else {
      break;
    }
    inspected += 1;
  }
}

const tatExpiry = (tat: number): number => tat;
const windowExpiry = (entry: QuotaEntry): number => entry.end;

/** An in-process store; answers synchronously-fast, shares nothing across processes. */
export class MemoryStore implements Store {
  /** key -> TAT (µs). Map order = order of last write, oldest first. */
  readonly #tats = new Map<string, number>();
  /** Concurrency keys -> their leases. */
  readonly #leases = new LeaseSets();
  /** Quota keys -> their window's count. Same order as TATs. */
  readonly #counts = new Map<string, QuotaEntry>();
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
    return this.#tats.size + this.#leases.size + this.#counts.size;
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
    const counts = this.#counts;
    const full = (): boolean => this.size > this.#maxKeys;
    const rate: TatState = {
      get: (key) => {
        const tat = tats.get(key);
        return tat !== undefined && tat > now ? tat : undefined;
      },
      set: (key, tat) => {
        tats.delete(key);
        tats.set(key, tat);
        reclaim(tats, now, tatExpiry, full);
      },
    };
    const quota: QuotaState = {
      get: (key, start) => {
        const entry = counts.get(key);
        return entry !== undefined && entry.start === start && entry.end > now ? entry.count : 0;
      },
      set: (key, start, end, count) => {
        counts.delete(key);
        if (count > 0) counts.set(key, { start, end, count });
        reclaim(counts, now, windowExpiry, full);
      },
    };
    const result = evaluateCheck(check, now, {
      concurrency: {
        read: (key) => leases.read(key, now),
        holds: (key, lease) => leases.holds(key, lease, now),
        has: (key, lease) => leases.has(key, lease, now),
        put: (key, lease, expiresAt, keepFor) => {
          leases.put(key, lease, expiresAt, keepFor);
          leases.reclaim(now, SWEEP_PER_WRITE, () => this.size > this.#maxKeys);
        },
        remove: (key, lease) => leases.remove(key, lease),
      },
      rate,
      quota,
      rateAdjust: rate,
      quotaAdjust: quota,
    });
    return { allowed: result.allowed, now, items: result.items, source: 'memory' };
  }

  /** Deletes keys so they start with a full bucket. */
  reset(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      this.#tats.delete(key);
      this.#leases.delete(key);
      this.#counts.delete(key);
    }
    return Promise.resolve();
  }

  /** Drops every key. */
  clear(): void {
    this.#tats.clear();
    this.#leases.clear();
    this.#counts.clear();
  }

  /** Nothing to release; present for the Store interface. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
