/**
 * The pluggable store interface: a store evaluates checks (SPEC sections 3-5)
 * atomically and resets keys. Two implementations ship: RedisStore (Lua
 * scripts in Redis) and MemoryStore (in-process, the embedded default).
 *
 * A check's items may be of several kinds (a discriminated union on `kind`;
 * a rate item may leave `kind` out). Each kind is one Lua file in `lua/` and
 * one TypeScript twin, registered in src/kinds.ts.
 */
import type { StoreHooks } from './telemetry/hooks.js';

/** A rate (GCRA) item: take `cost` units of `key`'s bucket, in the integer form the algorithm uses. */
export interface RateItem {
  /** The kind tag; may be left out (a rate item is the default). */
  readonly kind?: 'rate';
  /** The caller's key (stores add their own prefix). */
  readonly key: string;
  /** Emission interval T in µs (>= 1). */
  readonly interval: number;
  /** Burst B (>= 1). */
  readonly burst: number;
  /** Units to take (>= 0; 0 is a peek). For mode `atMost`, the most to take (>= 1). */
  readonly cost: number;
}

/** One item of a check: a key and what to do with it, by kind. */
export type CheckItem = RateItem;

/** The kind of an item: its `kind`, `'rate'` when left out. */
export type ItemKind = NonNullable<CheckItem['kind']>;

/** How a check takes units: `all` = n or nothing (allowN), `atMost` = up to n (one rate item only). */
export type CheckMode = 'all' | 'atMost';

/** A check: one or more items evaluated together, all-or-nothing, at one `now`. */
export interface Check<I extends CheckItem = CheckItem> {
  /** How units are taken (`atMost`: rate items only). */
  readonly mode: CheckMode;
  /** The items; `atMost` takes exactly one. */
  readonly items: readonly I[];
}

/** The store's answer for one rate item, in integer microseconds. */
export interface RateOutcome {
  /** Whether this item on its own could pass. */
  readonly allowed: boolean;
  /** Units taken (0 when the check as a whole was denied). */
  readonly granted: number;
  /** Whole units still available after the check. */
  readonly remaining: number;
  /** µs until the item could pass; 0 when allowed; -1 when never (cost > burst). */
  readonly retryAfter: number;
  /** µs until the bucket is full again. */
  readonly resetAfter: number;
  /** The key's theoretical arrival time after the check, µs since the epoch. */
  readonly tat: number;
}

/** The store's answer for one item, by the item's kind (items and outcomes pair up in order). */
export type ItemOutcome = RateOutcome;

/** The store's answer for a whole check. */
export interface CheckOutcome {
  /** True when every item passed (and was written). */
  readonly allowed: boolean;
  /** The `now` the check was evaluated at, µs since the epoch. */
  readonly now: number;
  /** One outcome per item, in order. */
  readonly items: readonly ItemOutcome[];
  /** Where the answer came from, for metrics. */
  readonly source: OutcomeSource;
  /** Set when a failure policy answered instead of the store (SPEC section 10). */
  readonly reason?: 'open' | 'closed' | 'local';
}

/** Where an outcome came from: Redis, the local deny cache, or the in-process store. */
export type OutcomeSource = 'redis' | 'cache' | 'memory';

/** Per-call options a store may honour. */
export interface EvaluateOptions {
  /** Aborts waiting for the store; the call rejects with a LimiterError. */
  readonly signal?: AbortSignal;
}

/** A rate-limit store. Implement this to plug in another backend. */
export interface Store {
  /** Optional: receives the hooks a Limiter wants called (metrics, traces). */
  instrument?(hooks: StoreHooks): void;
  /** Evaluates one check atomically. Rejects only on store failure (never on denial). */
  evaluate(check: Check, options?: EvaluateOptions): Promise<CheckOutcome>;
  /** Deletes the state of the given keys, so they start with a full bucket. */
  reset(keys: readonly string[]): Promise<void>;
  /** Releases resources the store owns (connections, timers). */
  close(): Promise<void>;
}
