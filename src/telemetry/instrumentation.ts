/**
 * The OpenTelemetry instrumentation of one Limiter: wraps each check to time
 * it, count its outcome and trace it, and builds the StoreHooks its store
 * calls. Providers are resolved at every check (a pointer compare when
 * nothing changed), so an SDK registered after the limiter was made is
 * picked up, and with no SDK registered a check costs two global lookups.
 */
import { type MeterProvider, type Span, type TracerProvider, metrics } from '@opentelemetry/api';
import { ErrorCodes, LimiterError, describe } from '../errors.js';
import type { AnyLimit } from '../concurrency.js';
import type { LeaseHandle } from '../lease.js';
import { MemoryStore } from '../memory-store.js';
import { RedisStore } from '../redis-store.js';
import type { AnyOutcome, Store } from '../store.js';
import type { StoreHooks } from './hooks.js';
import { type SourceSlot, type StoreType, type TollgateMetrics, addPending, dropLease, holdLease, metricsFor, slotIndex } from './meter.js';
import { Tracing, captureSpanContext } from './tracing.js';

/** Telemetry options of a Limiter (see LimiterOptions). */
export interface TelemetryOptions {
  /** Where metrics go. Default: the global meter provider, looked up at every check. */
  readonly meterProvider?: MeterProvider;
  /** Where spans go. Default: the global tracer provider. */
  readonly tracerProvider?: TracerProvider;
  /** Make check and store spans only under a recording parent span. Default true. */
  readonly requireParentSpan?: boolean;
}

/** What a check is limited by: one limit, or the items of a compound check. */
export type CheckLimits = AnyLimit | readonly { readonly limit: AnyLimit }[];

/** Validated telemetry options; `enabled` false when `telemetry: false` was given. */
export interface ResolvedTelemetryOptions extends TelemetryOptions {
  /** False when telemetry was turned off. */
  readonly enabled: boolean;
  /** Whether spans need a recording parent. */
  readonly requireParentSpan: boolean;
}

/** Validates the telemetry options of `owner`; throws ERR_INVALID_OPTION naming the option. */
export function telemetryOptions(owner: string, o: Record<string, unknown>): ResolvedTelemetryOptions {
  const invalid = (name: string, value: unknown, allowed: string): LimiterError =>
    new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} option "${name}" must be ${allowed}, got ${describe(value)}`);
  const { telemetry, meterProvider, tracerProvider, requireParentSpan } = o;
  if (telemetry !== undefined && typeof telemetry !== 'boolean') throw invalid('telemetry', telemetry, 'a boolean');
  if (meterProvider !== undefined && !hasMethod(meterProvider, 'getMeter')) {
    throw invalid('meterProvider', meterProvider, 'an OpenTelemetry MeterProvider (an object with getMeter())');
  }
  if (tracerProvider !== undefined && !hasMethod(tracerProvider, 'getTracer')) {
    throw invalid('tracerProvider', tracerProvider, 'an OpenTelemetry TracerProvider (an object with getTracer())');
  }
  if (requireParentSpan !== undefined && typeof requireParentSpan !== 'boolean') throw invalid('requireParentSpan', requireParentSpan, 'a boolean');
  return {
    enabled: telemetry !== false,
    requireParentSpan: requireParentSpan !== false,
    ...(meterProvider === undefined ? {} : { meterProvider: meterProvider as MeterProvider }),
    ...(tracerProvider === undefined ? {} : { tracerProvider: tracerProvider as TracerProvider }),
  };
}

function hasMethod(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[name] === 'function';
}

/** The kind of a store, for `tollgate.store.type`. */
export function storeType(store: Store): StoreType {
  if (store instanceof RedisStore) return 'redis';
  if (store instanceof MemoryStore) return 'memory';
  return 'custom';
}

/** The limit name reported for a check: the limit's name, or the named items of a compound check joined by `,`. */
export function limitName(limits: CheckLimits): string | undefined {
  if (!Array.isArray(limits)) return (limits as AnyLimit).name;
  let name: string | undefined;
  for (const item of limits as readonly { readonly limit: AnyLimit }[]) {
    const n = item.limit.name;
    if (n !== undefined) name = name === undefined ? n : `${name},${n}`;
  }
  return name;
}

const SLOT_OF: Readonly<Record<string, number>> = {
  redis: slotIndex('redis'),
  cache: slotIndex('cache'),
  memory: slotIndex('memory'),
};
const POLICY_SLOT: Readonly<Record<string, number>> = {
  open: slotIndex('open' satisfies SourceSlot),
  closed: slotIndex('closed'),
  local: slotIndex('local'),
};
const MEMORY_SLOT = slotIndex('memory');
const noop = (): void => undefined;

/**
 * Where @opentelemetry/api (major version 1) keeps what is registered with it:
 * `metrics` and `trace` hold the global providers; absent until something registers.
 */
const OTEL_API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** True when no meter or tracer provider is registered with the OpenTelemetry API (two property reads). */
function apiIdle(): boolean {
  const registered = (globalThis as Record<symbol, { metrics?: unknown; trace?: unknown } | undefined>)[OTEL_API_GLOBAL];
  return registered === undefined || (registered.metrics === undefined && registered.trace === undefined);
}

/** One check being observed: its start time, its span, and the metrics it will be counted in. */
export class CheckProbe {
  readonly #metrics: TollgateMetrics | null;
  readonly #tracing: Tracing;
  readonly #span: Span | undefined;
  readonly #name: string;
  readonly #start: number;

  /** Made by {@link Instrumentation.start}. */
  constructor(metrics: TollgateMetrics | null, tracing: Tracing, span: Span | undefined, name: string | undefined) {
    this.#metrics = metrics;
    this.#tracing = tracing;
    this.#span = span;
    this.#name = name ?? '';
    this.#start = metrics === null ? 0 : performance.now();
  }

  /** True when this check has a span (then {@link call} runs the check in the span's context). */
  get traced(): boolean {
    return this.#span !== undefined;
  }

  /** Runs the store call, inside the check's span when there is one. */
  call(run: () => Promise<AnyOutcome>): Promise<AnyOutcome> {
    return this.#span === undefined ? run() : this.#tracing.run(this.#span, run);
  }

  /** Records an answered check: its count by outcome and source, its duration, its span attributes. */
  succeed(outcome: AnyOutcome): void {
    const m = this.#metrics;
    if (m !== null) {
      const slot = outcome.reason === undefined ? (SLOT_OF[outcome.source] ?? MEMORY_SLOT) : (POLICY_SLOT[outcome.reason] ?? MEMORY_SLOT);
      const cell = m.checkCell(this.#name, outcome.allowed, slot);
      cell.count += 1;
      m.duration.record((performance.now() - this.#start) / 1000, cell.durationAttributes);
      for (const item of outcome.items) if ('expired' in item && item.expired > 0) m.countLeasesExpired(this.#name, item.expired);
    }
    if (this.#span !== undefined) this.#tracing.endCheck(this.#span, outcome);
  }

  /** Records a failed check: its count and duration by error code, and the span's error status. */
  fail(error: unknown): void {
    const m = this.#metrics;
    if (m !== null) {
      const cell = m.errorCell(this.#name, error instanceof LimiterError ? error.code : '_OTHER');
      cell.count += 1;
      m.duration.record((performance.now() - this.#start) / 1000, cell.durationAttributes);
    }
    if (this.#span !== undefined) this.#tracing.failCheck(this.#span, error);
  }
}

/** Times, counts and traces the checks of one limiter, and instruments its store. */
export class Instrumentation {
  readonly #meterProvider: MeterProvider | undefined;
  readonly #explicit: boolean;
  readonly #tracing: Tracing;
  #meterFrom: MeterProvider | undefined;
  #metrics: TollgateMetrics | null = null;
  /** The hooks to hand to `store.instrument()`. */
  readonly storeHooks: StoreHooks;

  /** @param options - validated telemetry options; @param store - the kind of the limiter's store */
  constructor(options: ResolvedTelemetryOptions, store: StoreType) {
    this.#explicit = options.meterProvider !== undefined || options.tracerProvider !== undefined;
    this.#meterProvider = options.meterProvider;
    this.#tracing = new Tracing(options.tracerProvider, options.requireParentSpan);
    const explicit = this.#explicit;
    this.storeHooks = {
      captureContext: () => (explicit || !apiIdle() ? captureSpanContext() : undefined),
      onBatch: (size, contexts, target) => {
        if (!explicit && apiIdle()) return noop;
        this.#resolveMetrics()?.recordBatch(size);
        return this.#tracing.startBatch(size, contexts, target, store) ?? noop;
      },
      onCacheHit: () => this.#resolveMetrics()?.countCacheHit(store),
      onPending: (delta) => addPending(store, delta),
      onStoreError: (code) => this.#resolveMetrics()?.countStoreError(store, code),
      onBreakerChange: (state) => this.#resolveMetrics()?.countBreakerChange(store, state),
      onUnconfirmed: (count) => this.#resolveMetrics()?.countUnconfirmed(store, count),
    };
  }

  /**
   * Starts observing one check: returns a probe to run and finish it with,
   * or undefined when there is nothing to report (no SDK, no traced parent),
   * in which case the caller runs the check as if uninstrumented.
   */
  start(limits: CheckLimits, items: number): CheckProbe | undefined {
    // No provider given and no meter or tracer provider registered with the
    // OpenTelemetry API: two property reads instead of the API's lookups.
    if (!this.#explicit && apiIdle()) return undefined;
    const m = this.#resolveMetrics();
    const traced = this.#tracing.wantsCheckSpan();
    if (m === null && !traced) return undefined;
    const name = limitName(limits);
    const span = traced ? this.#tracing.startCheck(name, items) : undefined;
    if (m === null && span === undefined) return undefined;
    return new CheckProbe(m, this.#tracing, span, name);
  }

  /** Counts a lease as held (in flight) until {@link leaseGone} or its ttl (µs) from now. */
  leaseHeld(lease: LeaseHandle, ttl: number): void {
    holdLease(lease.limit.name ?? '', lease, performance.now() + ttl / 1000);
  }

  /** Counts `n` leases of limit `name` found expired without a release (by a release; acquires count in their check). */
  leasesExpired(name: string, n: number): void {
    this.#resolveMetrics()?.countLeasesExpired(name, n);
  }

  /** Stops counting a lease as held. */
  leaseGone(lease: LeaseHandle): void {
    dropLease(lease.limit.name ?? '', lease);
  }

  /** Counts units adjusted after the fact (tollgate.settled.units) under the limits' name. */
  settled(limits: CheckLimits, refunded: number, charged: number): void {
    if (refunded === 0 && charged === 0) return;
    if (!this.#explicit && apiIdle()) return;
    this.#resolveMetrics()?.countSettled(limitName(limits) ?? '', refunded, charged);
  }

  #resolveMetrics(): TollgateMetrics | null {
    const provider = this.#meterProvider ?? metrics.getMeterProvider();
    if (provider !== this.#meterFrom) {
      this.#meterFrom = provider;
      this.#metrics = metricsFor(provider);
    }
    return this.#metrics;
  }
}
