/**
 * The pluggable store interface: a store evaluates checks (SPEC sections 3-5)
 * atomically and resets keys. Two implementations ship: RedisStore (Lua
 * scripts in Redis) and MemoryStore (in-process, the embedded default).
 *
 * A check's items may be of several kinds (a discriminated union on `kind`;
 * a rate item may leave `kind` out). Each kind is one Lua file in `lua/` and
 * one TypeScript twin, registered in src/kinds.ts.
 */
import type { StoreHealth } from './health.js';
import type { QuotaBoundaries } from './quotas.js';
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

/** Take a lease of `key`: passes while fewer than `max` leases are held (src/concurrency-kind.ts). */
export interface AcquireItem {
  /** The kind tag. */
  readonly kind: 'concurrency';
  /** What to do with the key's leases. */
  readonly op: 'acquire';
  /** The caller's key (stores add their own prefix). */
  readonly key: string;
  /** Most leases held at once (>= 1). */
  readonly max: number;
  /** µs the lease lives unless extended (>= 1). */
  readonly ttl: number;
  /** The new lease's id: unique and unguessable (1 to 128 bytes). */
  readonly lease: string;
}

/** Give back a lease of `key`; passes when the lease was held. */
export interface ReleaseItem {
  /** The kind tag. */
  readonly kind: 'concurrency';
  /** What to do with the key's leases. */
  readonly op: 'release';
  /** The caller's key. */
  readonly key: string;
  /** The lease's id. */
  readonly lease: string;
}

/** Renew a lease of `key` to expire `ttl` µs from now; passes when the lease was held. */
export interface ExtendItem {
  /** The kind tag. */
  readonly kind: 'concurrency';
  /** What to do with the key's leases. */
  readonly op: 'extend';
  /** The caller's key. */
  readonly key: string;
  /** The lease's id. */
  readonly lease: string;
  /** µs from now the lease then lives (>= 1). */
  readonly ttl: number;
}

/** An item of the concurrency kind. */
export type ConcurrencyItem = AcquireItem | ReleaseItem | ExtendItem;

/** One item of a check: a key and what to do with it, of any kind (a union on `kind`). */
export type AnyItem = RateItem | ConcurrencyItem | QuotaItem | RateAdjustItem | QuotaAdjustItem;

/** A rate item, the default kind (`Check` and `CheckOutcome` without a type argument are about rate items). */
export type CheckItem = RateItem;
/** The window boundaries of a quota around an instant in µs (src/quotas.ts computes them). */
export type QuotaWindows = (nowUs: number) => QuotaBoundaries;

/** A quota item: take `cost` units of the calendar window holding `now`, under `amount` per window. */
export interface QuotaItem {
  /** The kind tag. */
  readonly kind: 'quota';
  /** The key of the quota's count (stores add their own prefix). */
  readonly key: string;
  /** Units per window (>= 1). */
  readonly amount: number;
  /** The windows before, at and after an instant. */
  readonly windows: QuotaWindows;
  /** Units to take (>= 0; 0 is a peek). */
  readonly cost: number;
}

/** A rate adjustment (settle, refund, penalize): move `key`'s TAT by `delta` emission intervals, never below now. */
export interface RateAdjustItem {
  /** The kind tag. */
  readonly kind: 'rateAdjust';
  /** The caller's key (stores add their own prefix). */
  readonly key: string;
  /** Emission interval T in µs (>= 1). */
  readonly interval: number;
  /** Burst B (>= 1). */
  readonly burst: number;
  /** Units: negative gives back (never beyond a full bucket), positive takes (even into debt). */
  readonly delta: number;
}

/** A quota adjustment: change the count of a window by `delta` units (never below 0). */
export interface QuotaAdjustItem {
  /** The kind tag. */
  readonly kind: 'quotaAdjust';
  /** The key of the quota's count. */
  readonly key: string;
  /** Units per window (>= 1), for the reported `remaining`. */
  readonly amount: number;
  /** The windows before, at and after an instant. */
  readonly windows: QuotaWindows;
  /** Units: negative gives back, positive charges (even past the amount). */
  readonly delta: number;
  /** Start (µs) of the window the adjustment is for; dropped once that window has ended. Undefined: the current window. */
  readonly window?: number;
}

/** The kind of an item: its `kind`, `'rate'` when left out. */
export type ItemKind = NonNullable<AnyItem['kind']>;

/** How a check takes units: `all` = n or nothing (allowN), `atMost` = up to n (one rate item only). */
export type CheckMode = 'all' | 'atMost';

/**
 * A check: one or more items evaluated together, all-or-nothing, at one
 * `now`. `Check` alone is a check of rate items; {@link AnyCheck} may mix kinds.
 */
export interface Check<I extends AnyItem = RateItem> {
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

/** The store's answer for one concurrency item, in integer microseconds. */
export interface LeaseOutcome {
  /** The kind tag. */
  readonly kind: 'concurrency';
  /** Acquire: whether this item on its own could take a lease. Release, extend: whether the lease was held. */
  readonly allowed: boolean;
  /** Leases taken: 1 when an acquire was granted, else 0. */
  readonly granted: number;
  /** Leases still free after the check (acquire; 0 for release and extend). */
  readonly remaining: number;
  /** µs until the oldest held lease expires, when an acquire found the key full; else 0. */
  readonly retryAfter: number;
  /** µs until the newest held lease expires (every lease gone unless renewed); 0 when none is held. */
  readonly resetAfter: number;
  /** Leases held after the check (acquire; 0 for release and extend). */
  readonly inFlight: number;
  /** When the lease expires, µs since the epoch on the store's clock; 0 when no lease was taken or renewed. */
  readonly expiresAt: number;
  /** Leases this item found expired without a release (and removed). */
  readonly expired: number;
}

/** The store's answer for one item of any kind (items and outcomes pair up in order). */
export type AnyItemOutcome = RateOutcome | LeaseOutcome | QuotaOutcome | AdjustOutcome;

/** The store's answer for one rate item. */
export type ItemOutcome = RateOutcome;
/** The store's answer for one quota item. */
export interface QuotaOutcome {
  /** Whether this item on its own could pass. */
  readonly allowed: boolean;
  /** Units taken (0 when the check as a whole was denied). */
  readonly granted: number;
  /** Units still available in the window (0 with a debt). */
  readonly remaining: number;
  /** µs until the item could pass: 0 when allowed; the window's end when denied; -1 when never (cost > amount). */
  readonly retryAfter: number;
  /** µs until the window ends. */
  readonly resetAfter: number;
  /** Start of the window the item was counted in, µs since the epoch. */
  readonly window: number;
  /** Units counted in the window after the check. */
  readonly used: number;
}

/** The store's answer for one adjustment item (an adjustment always passes). */
export interface AdjustOutcome {
  /** Always true. */
  readonly allowed: true;
  /** Always 0 (nothing is taken as a grant). */
  readonly granted: 0;
  /** Units available after the adjustment. */
  readonly remaining: number;
  /** Always 0. */
  readonly retryAfter: 0;
  /** µs until the bucket is full again (rate) or the window ends (quota). */
  readonly resetAfter: number;
  /** Units given back. */
  readonly refunded: number;
  /** Units charged. */
  readonly charged: number;
  /** True when nothing changed because the window it was for has ended (quota), or a failure policy answered. */
  readonly dropped: boolean;
}


/** A check whose items may be of any kind. */
export type AnyCheck = Check<AnyItem>;

/** The store's answer for a whole check (`CheckOutcome` alone: of a rate check; {@link AnyOutcome}: of any check). */
export interface CheckOutcome<O extends AnyItemOutcome = RateOutcome> {
  /** True when every item passed (and was written). */
  readonly allowed: boolean;
  /** The `now` the check was evaluated at, µs since the epoch. */
  readonly now: number;
  /** One outcome per item, in order. */
  readonly items: readonly O[];
  /** Where the answer came from, for metrics. */
  readonly source: OutcomeSource;
  /** Set when a failure policy answered instead of the store (SPEC section 10). */
  readonly reason?: 'open' | 'closed' | 'local';
}

/** The store's answer for a check of any kinds. */
export type AnyOutcome = CheckOutcome<AnyItemOutcome>;

/** Where an outcome came from: Redis, the local deny cache, or the in-process store. */
export type OutcomeSource = 'redis' | 'cache' | 'memory';

/** Per-call options a store may honour. */
export interface EvaluateOptions {
  /** Aborts waiting for the store; the call rejects with a LimiterError. */
  readonly signal?: AbortSignal;
}

/**
 * Marks a store whose `evaluate()` never throws and rejects only with a
 * LimiterError (tollgate's RedisStore). The default failure policy (`throw`)
 * hands such a store's promise on as it is, instead of chaining one more
 * promise per check to type what a third-party store might reject with.
 */
export const TYPED_REJECTIONS: unique symbol = Symbol('tollgate.typedRejections');

/** A rate-limit store. Implement this to plug in another backend. */
export interface Store {
  /** Optional: receives the hooks a Limiter wants called (metrics, traces). */
  instrument?(hooks: StoreHooks): void;
  /** Evaluates one check atomically. Rejects only on store failure (never on denial). */
  evaluate(check: Check, options?: EvaluateOptions): Promise<CheckOutcome>;
  /** Evaluates one check whose items may be of any kind (see src/kinds.ts). */
  evaluate(check: AnyCheck, options?: EvaluateOptions): Promise<AnyOutcome>;
  /** Deletes the state of the given keys, so they start with a full bucket. */
  reset(keys: readonly string[]): Promise<void>;
  /** Releases resources the store owns (connections, timers). */
  close(): Promise<void>;
  /**
   * Optional: the store's health. A store that has it guards itself (e.g.
   * with a circuit breaker), so the Limiter's `failureCooldown` does not apply.
   */
  health?(): StoreHealth;
}
