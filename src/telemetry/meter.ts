/**
 * The instruments of one MeterProvider, shared by every limiter, store and
 * middleware that reports to it. Counts are kept in plain numbers per
 * attribute set and reported through asynchronous (observable) instruments
 * when the SDK collects, so counting a check costs an increment instead of a
 * synchronous `add()` that hashes its attributes. Durations and batch sizes
 * use synchronous histograms with preallocated attribute objects.
 */
import {
  type Attributes,
  type BatchObservableResult,
  type Histogram,
  type MeterProvider,
  type Observable,
  type ObservableCounter,
  type ObservableUpDownCounter,
  ValueType,
  createNoopMeter,
} from '@opentelemetry/api';
import type { HttpResult } from './hooks.js';
import {
  AttributeNames as A,
  BATCH_SIZE_BUCKETS,
  DURATION_BUCKETS,
  MAX_NAMES,
  MetricNames as M,
  OVERFLOW_NAME,
  SCOPE_NAME,
  SCOPE_VERSION,
} from './names.js';

/** The kind of a store, as reported in `tollgate.store.type`. */
export type StoreType = 'redis' | 'memory' | 'custom';

/** Where a check's answer came from: a store source, or the failure policy that answered. */
export type SourceSlot = 'redis' | 'cache' | 'memory' | 'open' | 'closed' | 'local';

const SLOTS: readonly SourceSlot[] = ['redis', 'cache', 'memory', 'open', 'closed', 'local'];
const HTTP_RESULTS: readonly HttpResult[] = ['allowed', 'denied', 'shadow_denied', 'skipped', 'error'];

/** A counted attribute set. */
interface Cell {
  /** Attributes of the counter data point. */
  readonly attributes: Attributes;
  /** Cumulative count since the cell was created. */
  count: number;
}

/** A counted attribute set of the checks counter, with the duration histogram's attributes. */
export interface CheckCell extends Cell {
  /** Attributes of the duration histogram data point. */
  readonly durationAttributes: Attributes;
}

/** The attributes of durations of answered checks: none, so recording one does not hash attributes. */
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** Checks waiting on stores, per store type: one process-wide level that every meter reports. */
const pending: Record<StoreType, number> = { redis: 0, memory: 0, custom: 0 };
/** Store types that have reported pending checks (only those are observed). */
const pendingTypes = new Set<StoreType>();

/** Adds `delta` to the number of checks waiting on stores of `type`. */
export function addPending(type: StoreType, delta: number): void {
  if (pending[type] === 0 && !pendingTypes.has(type)) pendingTypes.add(type);
  pending[type] += delta;
}

/**
 * Concurrency leases this process holds, per limit name ('' when unnamed):
 * each lease with the monotonic ms past which it has expired on its own.
 * One process-wide level that every meter reports; a lease past its
 * deadline is dropped when observed.
 */
const leases = new Map<string, Map<object, number>>();

/** Counts `lease` as held under limit `name` until released or until `deadline` (performance.now() ms). */
export function holdLease(name: string, lease: object, deadline: number): void {
  let held = leases.get(name);
  if (held === undefined) {
    held = new Map();
    leases.set(name, held);
  }
  held.set(lease, deadline);
}

/** Stops counting `lease` (released, or found expired). */
export function dropLease(name: string, lease: object): void {
  leases.get(name)?.delete(lease);
}

/** Leases held under `name` now, dropping those past their deadline. */
function leasesHeld(held: Map<object, number>): number {
  const now = performance.now();
  for (const [lease, deadline] of held) if (deadline <= now) held.delete(lease);
  return held.size;
}

/** The instruments and counts of one MeterProvider. Obtain with {@link metricsFor}. */
export class TollgateMetrics {
  /** `tollgate.check.duration`, seconds. */
  readonly duration: Histogram;
  readonly #batchSize: Histogram;
  readonly #checks: ObservableCounter;
  readonly #cacheHits: ObservableCounter;
  readonly #storeErrors: ObservableCounter;
  readonly #breakerChanges: ObservableCounter;
  readonly #unconfirmed: ObservableCounter;
  readonly #pending: ObservableUpDownCounter;
  readonly #http: ObservableCounter;
  readonly #leasesInFlight: ObservableUpDownCounter;
  readonly #leasesExpired: ObservableCounter;
  readonly #expiredCells = new Map<string, Cell>();
  readonly #settled: ObservableCounter;
  /** name -> cells indexed by (allowed ? 0 : 1) * SLOTS.length + slot index. */
  readonly #checkCells = new Map<string, (CheckCell | undefined)[]>();
  readonly #errorCells = new Map<string, CheckCell>();
  readonly #cacheHitCells = new Map<StoreType, Cell>();
  readonly #storeErrorCells = new Map<string, Cell>();
  readonly #breakerCells = new Map<string, Cell>();
  readonly #unconfirmedCells = new Map<StoreType, Cell>();
  readonly #httpCells = new Map<string, (Cell | undefined)[]>();
  /** name -> [refunded, charged] cells. */
  readonly #settledCells = new Map<string, [Cell, Cell]>();
  readonly #names = new Set<string>();

  /** Creates the instruments on `provider`'s `tollgate` meter. */
  constructor(provider: MeterProvider) {
    const meter = provider.getMeter(SCOPE_NAME, SCOPE_VERSION);
    this.duration = meter.createHistogram(M.CHECK_DURATION, {
      description: 'Duration of rate-limit checks, from the call to its answer.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] },
    });
    this.#batchSize = meter.createHistogram(M.BATCH_SIZE, {
      description: 'Number of checks carried by one store script call.',
      unit: '{check}',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: [...BATCH_SIZE_BUCKETS] },
    });
    this.#checks = meter.createObservableCounter(M.CHECKS, {
      description: 'Rate-limit checks, by outcome, by where the answer came from, and by limit name.',
      unit: '{check}',
      valueType: ValueType.INT,
    });
    this.#cacheHits = meter.createObservableCounter(M.DENY_CACHE_HITS, {
      description: 'Checks the local deny cache answered without a round trip to the store.',
      unit: '{hit}',
      valueType: ValueType.INT,
    });
    this.#storeErrors = meter.createObservableCounter(M.STORE_ERRORS, {
      description: 'Errors raised by a store, by error code.',
      unit: '{error}',
      valueType: ValueType.INT,
    });
    this.#breakerChanges = meter.createObservableCounter(M.BREAKER_CHANGES, {
      description: 'Circuit breaker state changes of a store, by the state entered.',
      unit: '{change}',
      valueType: ValueType.INT,
    });
    this.#unconfirmed = meter.createObservableCounter(M.UNCONFIRMED_CHECKS, {
      description: 'Checks reported failed although their script call had been sent and its reply was lost or late: Redis may have applied them.',
      unit: '{check}',
      valueType: ValueType.INT,
    });
    this.#pending = meter.createObservableUpDownCounter(M.PENDING_CHECKS, {
      description: 'Checks currently waiting on a store.',
      unit: '{check}',
      valueType: ValueType.INT,
    });
    this.#http = meter.createObservableCounter(M.HTTP_REQUESTS, {
      description: 'HTTP requests handled by the rate-limit middleware, by result and policy.',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.#leasesInFlight = meter.createObservableUpDownCounter(M.LEASES_IN_FLIGHT, {
      description: 'Concurrency leases this process holds (taken, not yet released, not past their ttl), by limit name.',
      unit: '{lease}',
      valueType: ValueType.INT,
    });
    this.#leasesExpired = meter.createObservableCounter(M.LEASES_EXPIRED, {
      description: 'Concurrency leases found expired without a release (removed by a later acquire), by limit name.',
      unit: '{lease}',
      valueType: ValueType.INT,
    });
    this.#settled = meter.createObservableCounter(M.SETTLED_UNITS, {
      description: 'Units adjusted after the fact (settled reservations, refunds, penalties), by direction and limit name.',
      unit: '{unit}',
      valueType: ValueType.INT,
    });
    const observables: Observable[] = [this.#checks, this.#cacheHits, this.#storeErrors, this.#breakerChanges, this.#unconfirmed, this.#pending, this.#http, this.#leasesInFlight, this.#leasesExpired, this.#settled];
    meter.addBatchObservableCallback((result) => this.#observe(result), observables);
  }

  /** The cell counting checks answered with `allowed` from `slot` under limit `name` ('' when unnamed). */
  checkCell(name: string, allowed: boolean, slot: number): CheckCell {
    let cells = this.#checkCells.get(name);
    if (cells === undefined) {
      const bounded = this.#bound(name);
      if (bounded !== name) return this.checkCell(bounded, allowed, slot);
      cells = [];
      this.#checkCells.set(name, cells);
    }
    const index = (allowed ? 0 : SLOTS.length) + slot;
    return (cells[index] ??= newCheckCell(name, allowed, SLOTS[slot] ?? 'memory'));
  }

  /** The cell counting checks under limit `name` that failed with error code `code`. */
  errorCell(name: string, code: string): CheckCell {
    const key = `${name}\u0000${code}`;
    let cell = this.#errorCells.get(key);
    if (cell === undefined) {
      const bounded = this.#bound(name);
      if (bounded !== name) return this.errorCell(bounded, code);
      const attributes: Attributes = { [A.OUTCOME]: 'error', [A.ERROR_TYPE]: code };
      if (name !== '') attributes[A.LIMIT_NAME] = name;
      cell = { attributes, durationAttributes: { [A.ERROR_TYPE]: code }, count: 0 };
      this.#errorCells.set(key, cell);
    }
    return cell;
  }

  /** Records one script call carrying `size` checks (no attributes: only Redis stores batch, and recording stays cheap). */
  recordBatch(size: number): void {
    this.#batchSize.record(size, NO_ATTRIBUTES);
  }

  /** Counts one deny-cache answer. */
  countCacheHit(type: StoreType): void {
    let cell = this.#cacheHitCells.get(type);
    if (cell === undefined) {
      cell = { attributes: { [A.STORE_TYPE]: type }, count: 0 };
      this.#cacheHitCells.set(type, cell);
    }
    cell.count += 1;
  }

  /** Counts one store error with code `code`. */
  countStoreError(type: StoreType, code: string): void {
    countIn(this.#storeErrorCells, type, A.ERROR_TYPE, code);
  }

  /** Counts one change of a store's circuit breaker into `state`. */
  countBreakerChange(type: StoreType, state: string): void {
    countIn(this.#breakerCells, type, A.BREAKER_STATE, state);
  }

  /** Counts `n` checks reported failed whose script call had been sent (Redis may have applied them). */
  countUnconfirmed(type: StoreType, n: number): void {
    let cell = this.#unconfirmedCells.get(type);
    if (cell === undefined) {
      cell = { attributes: { [A.STORE_TYPE]: type }, count: 0 };
      this.#unconfirmedCells.set(type, cell);
    }
    cell.count += n;
  }

  /** Counts one HTTP request handled with `result` under `policy`. */
  countHttp(result: HttpResult, policy: string): void {
    let cells = this.#httpCells.get(policy);
    if (cells === undefined) {
      const bounded = this.#bound(policy);
      if (bounded !== policy) return this.countHttp(result, bounded);
      cells = [];
      this.#httpCells.set(policy, cells);
    }
    const index = HTTP_RESULTS.indexOf(result);
    if (index < 0) return;
    const cell = (cells[index] ??= { attributes: { [A.HTTP_RESULT]: result, [A.HTTP_POLICY]: policy }, count: 0 });
    cell.count += 1;
  }

  /** Counts `n` leases of limit `name` found expired without a release. */
  countLeasesExpired(name: string, n: number): void {
    const bounded = this.#bound(name);
    let cell = this.#expiredCells.get(bounded);
    if (cell === undefined) {
      cell = { attributes: bounded === '' ? {} : { [A.LIMIT_NAME]: bounded }, count: 0 };
      this.#expiredCells.set(bounded, cell);
    }
    cell.count += n;
  }

  /** Counts units given back (`refunded`) and taken (`charged`) after the fact under limit `name` ('' when unnamed). */
  countSettled(name: string, refunded: number, charged: number): void {
    let cells = this.#settledCells.get(name);
    if (cells === undefined) {
      const bounded = this.#bound(name);
      if (bounded !== name) return this.countSettled(bounded, refunded, charged);
      const cell = (direction: string): Cell => ({
        attributes: name === '' ? { [A.SETTLE_DIRECTION]: direction } : { [A.SETTLE_DIRECTION]: direction, [A.LIMIT_NAME]: name },
        count: 0,
      });
      cells = [cell('refunded'), cell('charged')];
      this.#settledCells.set(name, cells);
    }
    cells[0].count += refunded;
    cells[1].count += charged;
  }

  /** Keeps at most MAX_NAMES distinct names; later ones become OVERFLOW_NAME. */
  #bound(name: string): string {
    if (this.#names.has(name)) return name;
    if (this.#names.size >= MAX_NAMES) return OVERFLOW_NAME;
    this.#names.add(name);
    return name;
  }

  #observe(result: BatchObservableResult): void {
    for (const cells of this.#checkCells.values()) observeCells(result, this.#checks, cells);
    observeCells(result, this.#checks, this.#errorCells.values());
    observeCells(result, this.#cacheHits, this.#cacheHitCells.values());
    observeCells(result, this.#storeErrors, this.#storeErrorCells.values());
    observeCells(result, this.#breakerChanges, this.#breakerCells.values());
    observeCells(result, this.#unconfirmed, this.#unconfirmedCells.values());
    for (const cells of this.#httpCells.values()) observeCells(result, this.#http, cells);
    for (const cells of this.#settledCells.values()) observeCells(result, this.#settled, cells);
    for (const type of pendingTypes) result.observe(this.#pending, pending[type], { [A.STORE_TYPE]: type });
    observeCells(result, this.#leasesExpired, this.#expiredCells.values());
    const held = new Map<string, number>();
    for (const [name, set] of leases) {
      const bounded = this.#bound(name);
      held.set(bounded, (held.get(bounded) ?? 0) + leasesHeld(set));
    }
    for (const [name, count] of held) result.observe(this.#leasesInFlight, count, name === '' ? {} : { [A.LIMIT_NAME]: name });
  }
}

/** Counts one event in the cell of (store type, `attribute` = `value`) of `cells`, made on first use. */
function countIn(cells: Map<string, Cell>, type: StoreType, attribute: string, value: string): void {
  const key = `${type}\u0000${value}`;
  let cell = cells.get(key);
  if (cell === undefined) {
    cell = { attributes: { [A.STORE_TYPE]: type, [attribute]: value }, count: 0 };
    cells.set(key, cell);
  }
  cell.count += 1;
}

function observeCells(result: BatchObservableResult, instrument: Observable, cells: Iterable<Cell | undefined>): void {
  for (const cell of cells) if (cell !== undefined && cell.count > 0) result.observe(instrument, cell.count, cell.attributes);
}

function newCheckCell(name: string, allowed: boolean, slot: SourceSlot): CheckCell {
  const policy = slot === 'open' || slot === 'closed' || slot === 'local';
  const source = policy ? 'failure_policy' : slot;
  const attributes: Attributes = { [A.OUTCOME]: allowed ? 'allowed' : 'denied', [A.SOURCE]: source };
  if (policy) attributes[A.FAILURE_POLICY] = slot;
  if (name !== '') attributes[A.LIMIT_NAME] = name;
  return { attributes, durationAttributes: NO_ATTRIBUTES, count: 0 };
}

/** Index of a source slot, for {@link TollgateMetrics.checkCell}. */
export function slotIndex(slot: SourceSlot): number {
  return SLOTS.indexOf(slot);
}

const noopMeter = createNoopMeter();
const byProvider = new WeakMap<MeterProvider, TollgateMetrics | null>();

/**
 * The metrics of `provider`, created on first use; null when the provider
 * hands out the API's no-op meter (no SDK registered), so callers skip all work.
 */
export function metricsFor(provider: MeterProvider): TollgateMetrics | null {
  let found = byProvider.get(provider);
  if (found === undefined) {
    found = provider.getMeter(SCOPE_NAME, SCOPE_VERSION) === noopMeter ? null : new TollgateMetrics(provider);
    byProvider.set(provider, found);
  }
  return found;
}
