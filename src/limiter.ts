/**
 * Limiter: the programmatic API. Validates every input before any store call,
 * turns store outcomes into results (ms, rounded up), applies the failure
 * policy when the store fails, waits for permission on request, hands
 * out leases of concurrency limits (src/lease.ts), and adjusts after the
 * fact (reservations settled, refunds, penalties: src/reservation.ts).
 */
import { type AnyLimit, type ConcurrencyLimit, isConcurrencyLimit, resolveConcurrency, ttlMicros } from './concurrency.js';
import { ErrorCodes, LimiterError, describe, toStoreError } from './errors.js';
import { type FailurePolicy, FailureHandler } from './failure.js';
import type { StoreHealth } from './health.js';
import { checkCost, checkKey } from './inputs.js';
import { type Lease, LeaseHandle, type LeaseKeeper } from './lease.js';
import { newLeaseId } from './lease-id.js';
import { type Limit, resolveLimit } from './limits.js';
import { MemoryStore } from './memory-store.js';
import { enumOption, integerOption, objectOption } from './options.js';
import { type Quota, checkQuotaCost, isQuota, keysOf, quotaKey, resolveQuota } from './quotas.js';
import { type AdjustResult, type Reservation, type Reserved, adjustItem, adjustResult, checkUnits, withSettle } from './reservation.js';
import { type CompoundResult, type LimitResult, compoundResult, singleResult, toItemResult } from './result.js';
import { sleep } from './sleep.js';
import type { AcquireItem, AnyCheck, AnyItem, AnyOutcome, LeaseOutcome, QuotaOutcome, Store } from './store.js';
import { type CheckLimits, Instrumentation, type TelemetryOptions, storeType, telemetryOptions } from './telemetry/instrumentation.js';

/** Options of {@link Limiter}. */
export interface LimiterOptions extends TelemetryOptions {
  /** Where state lives. Default: a new in-process {@link MemoryStore}. */
  readonly store?: Store;
  /**
   * What to do when the store fails (unreachable, past its deadline, error reply):
   * `throw` (default) rejects with the LimiterError; `open` allows; `closed` denies;
   * `local` decides with an in-process store until the store is healthy again.
   */
  readonly onStoreError?: FailurePolicy;
  /**
   * After a store failure, ms during which `open`/`closed`/`local` answer
   * without trying the store, for stores without `health()` (a RedisStore
   * has its own circuit breaker instead). Also the `retryAfter` of a
   * `closed` answer. Default 1000.
   */
  readonly failureCooldown?: number;
  /**
   * `false` turns OpenTelemetry metrics and spans off for this limiter (and its store).
   * Default true: reports to `meterProvider`/`tracerProvider`, or the global ones.
   */
  readonly telemetry?: boolean;
}

/** Options of {@link Limiter.allow}. */
export interface AllowOptions {
  /** Units to take: an integer >= 0. Default 1; 0 is a peek. */
  readonly cost?: number;
}

/** One item of {@link Limiter.allowAll}: a rate limit, or a concurrency limit (which takes one lease). */
export interface LimitItem<L extends AnyLimit = AnyLimit> {
  /** The key to limit. */
  readonly key: string;
  /** The limit for this key. */
  readonly limit: L;
  /** Units to take from this item: an integer >= 0. Default 1. A concurrency item takes one lease: 1 or left out. */
  readonly cost?: number;
}

/** Options of {@link Limiter.wait}. */
export interface WaitOptions extends AllowOptions {
  /** Aborts the wait; the promise rejects with ERR_ABORTED. */
  readonly signal?: AbortSignal;
  /** Most ms to wait in total. Rejects with ERR_WAIT_EXCEEDED as soon as a wait would pass it. Default: no bound. */
  readonly maxWait?: number;
}

/** Checks keys against limits using a {@link Store}. */
export class Limiter {
  readonly #store: Store;
  readonly #failure: FailureHandler;
  readonly #telemetry: Instrumentation | undefined;
  readonly #keeper: LeaseKeeper;

  /** Creates a limiter; with no store, an in-process MemoryStore is used. */
  constructor(options?: LimiterOptions) {
    const o = objectOption('Limiter', options);
    const store = o.store;
    if (store !== undefined && (typeof store !== 'object' || store === null || typeof (store as Store).evaluate !== 'function')) {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `Limiter option "store" must implement the Store interface, got ${describe(store)}`);
    }
    this.#store = (store as Store | undefined) ?? new MemoryStore();
    this.#failure = new FailureHandler(
      enumOption('Limiter', 'onStoreError', o.onStoreError, 'throw', ['throw', 'open', 'closed', 'local']),
      integerOption('Limiter', 'failureCooldown', o.failureCooldown, 1000, 0),
    );
    const telemetry = telemetryOptions('Limiter', o);
    this.#telemetry = telemetry.enabled ? new Instrumentation(telemetry, storeType(this.#store)) : undefined;
    if (this.#telemetry) this.#store.instrument?.(this.#telemetry.storeHooks);
    this.#keeper = {
      run: (item, lease, local) => {
        const store = local ? this.#failure.local : this.#store;
        let pending: Promise<AnyOutcome>;
        try {
          pending = store.evaluate({ mode: 'all', items: [item] });
        } catch (error) {
          pending = Promise.reject(error);
        }
        return pending.then(
          (outcome) => {
            const o = outcome.items[0];
            if (o === undefined || !('inFlight' in o)) throw new LimiterError(ErrorCodes.STORE, `store answered a ${item.op} without a lease outcome`);
            if (o.expired > 0) this.#telemetry?.leasesExpired(lease.limit.name ?? '', o.expired);
            return o;
          },
          (error: unknown) => {
            throw toStoreError(error);
          },
        );
      },
      rejectsOnFailure: this.#failure.policy === 'throw',
      ttl: (ttl) => ttlMicros(ttl, 'extend(ttl)', ErrorCodes.INVALID_OPTION),
      held: (lease, ttl) => this.#telemetry?.leaseHeld(lease, ttl),
      gone: (lease) => this.#telemetry?.leaseGone(lease),
    };
  }

  /** The store in use. */
  get store(): Store {
    return this.#store;
  }

  /**
   * The store's health (`ready | degraded | down`, the breaker state and the
   * last error); a store without `health()` (the MemoryStore) is always `ready`.
   */
  health(): StoreHealth {
    return this.#store.health?.() ?? { status: 'ready', breaker: 'closed' };
  }

  /** Takes `cost` units (default 1) from `key`'s bucket or quota window, or nothing. Cost 0 is a peek. */
  allow(key: string, limit: Limit, options?: AllowOptions): Promise<LimitResult>;
  allow(key: string, limit: Quota, options?: AllowOptions): Promise<LimitResult<Quota>>;
  allow(key: string, limit: Limit | Quota, options?: AllowOptions): Promise<LimitResult<Limit | Quota>>;
  allow(key: string, limit: Limit | Quota, options?: AllowOptions): Promise<LimitResult<Limit | Quota>> {
    // Not async: the hottest call keeps to one promise chain (an invalid input still rejects, never throws).
    let check: AnyCheck;
    try {
      check = this.#single('allow', key, limit, options).check;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#evaluate(check, limit).then((outcome) => singleResult(key, limit, outcome));
  }

  /** Takes as many units as are available, up to `n` (an integer >= 1). Rate limits only. */
  async allowAtMost(key: string, limit: Limit, n: number): Promise<LimitResult> {
    if (isQuota(limit)) throw new LimiterError(ErrorCodes.INVALID_LIMIT, 'allowAtMost() takes a rate limit; a quota takes all of a cost or nothing (use allow())');
    const check = single(key, limit, n, 'atMost');
    return singleResult(key, limit, await this.#evaluate(check, limit));
  }

  /** Reports the state of `key` without taking anything or creating the key. */
  peek(key: string, limit: Limit): Promise<LimitResult>;
  peek(key: string, limit: Quota): Promise<LimitResult<Quota>>;
  peek(key: string, limit: Limit | Quota): Promise<LimitResult<Limit | Quota>>;
  peek(key: string, limit: Limit | Quota): Promise<LimitResult<Limit | Quota>> {
    return this.allow(key, limit, { cost: 0 });
  }

  /** Deletes the state of one key or several keys: their buckets are full again, their quota windows unused. */
  async reset(key: string | readonly string[]): Promise<void> {
    const keys = typeof key === 'string' ? [key] : Array.isArray(key) ? key : [key as unknown as string];
    keys.forEach((k, i) => checkKey(k, typeof key === 'string' ? 'key' : `keys[${i}]`));
    await this.#store.reset(keys.flatMap(keysOf));
  }

  /**
   * Like {@link allow}, for a cost known only afterwards: reserve an estimate,
   * then `settle()` the result with the actual cost, once (see {@link Reservation}).
   */
  reserve(key: string, limit: Limit, options?: AllowOptions): Promise<Reservation>;
  reserve(key: string, limit: Quota, options?: AllowOptions): Promise<Reservation<Quota>>;
  reserve(key: string, limit: Limit | Quota, options?: AllowOptions): Promise<Reservation<Limit | Quota>>;
  async reserve(key: string, limit: Limit | Quota, options?: AllowOptions): Promise<Reservation<Limit | Quota>> {
    const { cost, outcome } = await this.#take('reserve', key, limit, options);
    const reserved: Reserved = { key, limit, cost, ...windowOf(limit, outcome, 0) };
    return withSettle(singleResult(key, limit, outcome), [reserved], false, this.#settle);
  }

  /**
   * Gives `n` units back to `key` (an integer >= 0): a rate limit's bucket
   * never beyond full, a quota's current window never below zero usage.
   */
  async refund(key: string, limit: Limit | Quota, n: number): Promise<AdjustResult> {
    return this.#adjustBy(key, limit, n, -1);
  }

  /**
   * Takes `n` units from `key` (an integer >= 0) even when that empties the
   * bucket or passes the quota: a debt that delays (rate) or denies (quota,
   * until the window ends) the requests after it.
   */
  async penalize(key: string, limit: Limit | Quota, n: number): Promise<AdjustResult> {
    return this.#adjustBy(key, limit, n, 1);
  }

  /**
   * Takes a lease of `key` under a concurrency limit: allowed while fewer
   * than `limit.max` leases of the key are held. Release it when done (it
   * expires on its own after `limit.ttl` ms otherwise). A denial is a lease
   * with `allowed: false`, whose `retryAfter` says when the oldest held
   * lease expires.
   */
  acquire(key: string, limit: ConcurrencyLimit): Promise<Lease> {
    // Not async, as allow(): an invalid input rejects.
    let item: AcquireItem;
    try {
      item = acquireItem(key, limit, '');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#evaluate({ mode: 'all', items: [item] }, limit).then((outcome) => this.#lease(item, limit, outcome, 0));
  }

  /**
   * Checks several (key, limit, cost) items at once, all-or-nothing, in one
   * store call: if any item is denied, nothing is taken from any item. Items
   * may mix rate limits, quotas and concurrency limits; when allowed,
   * `result.release()` gives back every lease the check took and
   * `result.settle(actual)` settles its costs (see {@link Reservation}).
   */
  allowAll(items: readonly LimitItem<Limit>[]): Promise<CompoundResult & Reservation>;
  allowAll(items: readonly LimitItem[]): Promise<CompoundResult<AnyLimit> & Reservation<AnyLimit>>;
  async allowAll(items: readonly LimitItem[]): Promise<CompoundResult<AnyLimit> & Reservation<AnyLimit>> {
    if (!Array.isArray(items) || items.length === 0) {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `allowAll(items) needs a non-empty array of { key, limit, cost? }, got ${describe(items)}`);
    }
    const checkItems: AnyItem[] = items.map((item: LimitItem, i) => {
      if (typeof item !== 'object' || item === null) {
        throw new LimiterError(ErrorCodes.INVALID_OPTION, `items[${i}] must be an object { key, limit, cost? }, got ${describe(item)}`);
      }
      if (isConcurrencyLimit(item.limit)) {
        if (item.cost !== undefined && item.cost !== 1) {
          throw new LimiterError(ErrorCodes.INVALID_COST, `items[${i}].cost must be 1 or left out for a concurrency limit (one lease), got ${describe(item.cost)}`);
        }
        return acquireItem(item.key, item.limit, `items[${i}].`);
      }
      return toCheckItem(item.key, item.limit as Limit | Quota, item.cost === undefined ? 1 : item.cost, `items[${i}].`, 0);
    });
    const outcome = await this.#evaluate({ mode: 'all', items: checkItems }, items);
    const leases: LeaseHandle[] = [];
    const results = items.map((item, i) => {
      const o = outcome.items[i];
      if (!o) throw new LimiterError(ErrorCodes.STORE, `store answered ${outcome.items.length} items for ${items.length}`);
      const checked = checkItems[i] as AnyItem;
      if (outcome.allowed && checked.kind === 'concurrency' && checked.op === 'acquire') {
        leases.push(this.#lease(checked, item.limit as ConcurrencyLimit, outcome, i));
      }
      return toItemResult(item.key, item.limit, o);
    });
    const result = compoundResult(results, outcome.allowed, outcome.reason);
    const release = (): Promise<void> => Promise.all(leases.map((lease) => lease.release())).then(() => undefined);
    Object.defineProperty(result, 'release', { value: release, enumerable: false });
    // Concurrency items have no cost to settle: only rate and quota items are reserved.
    const reserved = items.flatMap((item, i): Reserved[] => {
      const checked = checkItems[i] as AnyItem;
      return checked.kind === 'concurrency' ? [] : [{ key: item.key, limit: item.limit as Limit | Quota, cost: (checked as { cost: number }).cost, index: i, ...windowOf(item.limit, outcome, i) }];
    });
    return withSettle(result as CompoundResult<AnyLimit>, reserved, true, this.#settle);
  }

  /**
   * Resolves with the allowed result once `cost` units could be taken.
   * Rejects with ERR_ABORTED when `signal` aborts, and with ERR_WAIT_EXCEEDED
   * when the cost can never pass or the next wait would pass `maxWait`.
   */
  wait(key: string, limit: Limit, options?: WaitOptions): Promise<LimitResult>;
  wait(key: string, limit: Quota, options?: WaitOptions): Promise<LimitResult<Quota>>;
  async wait(key: string, limit: Limit | Quota, options?: WaitOptions): Promise<LimitResult<Limit | Quota>> {
    const o = objectOption('wait', options);
    const maxWait = o.maxWait === undefined ? Infinity : checkMaxWait(o.maxWait);
    const signal = o.signal as AbortSignal | undefined;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `wait option "signal" must be an AbortSignal, got ${describe(signal)}`);
    }
    const cost = o.cost === undefined ? 1 : (o.cost as number);
    single(key, limit, cost, 'all'); // validate before the first call
    const deadline = performance.now() + maxWait;
    for (;;) {
      throwIfAborted(signal);
      const result = await this.allow(key, limit, { cost });
      if (result.allowed) return result;
      if (result.retryAfter === Infinity) {
        throw new LimiterError(ErrorCodes.WAIT_EXCEEDED, `cost ${cost} exceeds the burst or quota amount of the limit for ${JSON.stringify(key)}: it can never be allowed`);
      }
      const left = deadline - performance.now();
      if (result.retryAfter > left) {
        throw new LimiterError(
          ErrorCodes.WAIT_EXCEEDED,
          `waiting ${result.retryAfter} ms for ${JSON.stringify(key)} would pass maxWait ${maxWait} ms`,
        );
      }
      await sleep(Math.max(1, result.retryAfter), signal);
    }
  }

  /** The lease handed out for the acquire item `item` at `index` of a check's outcome. */
  #lease(item: AcquireItem, limit: ConcurrencyLimit, outcome: AnyOutcome, index: number): LeaseHandle {
    const o = outcome.items[index];
    if (o === undefined || !('inFlight' in o)) throw new LimiterError(ErrorCodes.STORE, 'store answered an acquire without a lease outcome');
    const lease = new LeaseHandle(this.#keeper, item.key, limit, item.ttl, item.lease, o as LeaseOutcome, outcome.reason);
    if (lease.held) this.#telemetry?.leaseHeld(lease, item.ttl);
    return lease;
  }

  /** Takes `options.cost` units (default 1) of one item, all or nothing, for `method` (named in errors). */
  async #take(method: string, key: string, limit: Limit | Quota, options: AllowOptions | undefined): Promise<{ cost: number; outcome: AnyOutcome }> {
    const { cost, check } = this.#single(method, key, limit, options);
    return { cost, outcome: await this.#evaluate(check, limit) };
  }

  /** The check of `method(key, limit, options)` taking `options.cost` (default 1); throws on invalid input. */
  #single(method: string, key: string, limit: Limit | Quota, options: AllowOptions | undefined): { cost: number; check: AnyCheck } {
    const o = objectOption(method, options);
    const cost = o.cost === undefined ? 1 : o.cost;
    return { cost: cost as number, check: single(key, limit, cost, 'all') };
  }

  /** Sends the adjustment items of a settle (see src/reservation.ts). */
  readonly #settle = (items: AnyItem[], entries: readonly Reserved[]): Promise<AdjustResult> => this.#adjust({ mode: 'all', items }, entries);

  #adjustBy(key: string, limit: Limit | Quota, n: unknown, sign: 1 | -1): Promise<AdjustResult> {
    const k = checkKey(key);
    const units = checkUnits(limit, n, 'n');
    return this.#adjust({ mode: 'all', items: [adjustItem(k, limit, sign * units)] }, [{ key: k, limit }]);
  }

  /** Runs an adjustment check (no check metrics: it decides nothing) and counts the units it moved. */
  async #adjust(check: AnyCheck, entries: readonly { key: string; limit: Limit | Quota }[]): Promise<AdjustResult> {
    const outcome = await this.#failure.run(check, this.#store);
    const result = adjustResult(entries, outcome, entries.length > 1);
    const telemetry = this.#telemetry;
    if (telemetry !== undefined) {
      const per = result.items ?? [result];
      entries.forEach((entry, i) => {
        const r = per[i];
        if (r !== undefined) telemetry.settled(entry.limit, r.refunded, r.charged);
      });
    }
    return result;
  }

  #evaluate(check: AnyCheck, limits: CheckLimits): Promise<AnyOutcome> {
    const probe = this.#telemetry?.start(limits, check.items.length);
    if (probe === undefined) return this.#failure.run(check, this.#store);
    const pending = probe.traced ? probe.call(() => this.#failure.run(check, this.#store)) : this.#failure.run(check, this.#store);
    return pending.then(
      (outcome) => {
        probe.succeed(outcome);
        return outcome;
      },
      (error: unknown) => {
        probe.fail(error);
        throw error;
      },
    );
  }
}

/** The window a quota item of `outcome` was counted in, as a Reserved field; nothing for a rate item. */
function windowOf(limit: AnyLimit, outcome: AnyOutcome, i: number): { window?: number } {
  if (!isQuota(limit)) return {};
  const o = outcome.items[i] as QuotaOutcome | undefined;
  return o?.window === undefined ? {} : { window: o.window };
}

function toCheckItem(key: unknown, limit: Limit | Quota, cost: unknown, prefix: string, minCost: number): AnyItem {
  const k = checkKey(key, `${prefix}key`);
  if (isQuota(limit)) {
    const q = resolveQuota(limit);
    const c = checkQuotaCost(cost, `${prefix}cost`, minCost);
    return { kind: 'quota', key: quotaKey(k, q.spec.unit), amount: q.amount, windows: q.boundaries, cost: c };
  }
  const resolved = resolveLimit(limit);
  const c = checkCost(cost, resolved, `${prefix}${minCost === 1 ? 'n' : 'cost'}`, minCost);
  return { key: k, interval: resolved.interval, burst: resolved.burst, cost: c };
}

/** An acquire item for `limit` with a new lease id (unique, unguessable: src/lease-id.ts). */
function acquireItem(key: unknown, limit: ConcurrencyLimit, prefix: string): AcquireItem {
  const k = checkKey(key, `${prefix}key`);
  if (!isConcurrencyLimit(limit)) {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, `${prefix}limit must be a concurrency limit (concurrency(max, { ttl })), got ${describe(limit)}`);
  }
  const { max, ttl } = resolveConcurrency(limit);
  return { kind: 'concurrency', op: 'acquire', key: k, max, ttl, lease: newLeaseId() };
}

function single(key: string, limit: Limit | Quota, cost: unknown, mode: 'all' | 'atMost'): AnyCheck {
  return { mode, items: [toCheckItem(key, limit, cost, '', mode === 'atMost' ? 1 : 0)] };
}

function checkMaxWait(value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `wait option "maxWait" must be a number of ms >= 0, got ${describe(value)}`);
  }
  return value;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LimiterError(ErrorCodes.ABORTED, 'wait was aborted', { cause: signal.reason });
}
