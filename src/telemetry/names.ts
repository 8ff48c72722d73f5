/**
 * The names tollgate reports under: instrumentation scope, metric names and
 * units, attribute keys and values, and histogram bucket advice. Every name
 * here is documented in docs/telemetry.md; change both together.
 */
import { VERSION } from '../version.js';

/** Instrumentation scope name of every meter and tracer tollgate creates. */
export const SCOPE_NAME = 'tollgate';

/** Instrumentation scope version: the package version. */
export const SCOPE_VERSION: string = VERSION;

/** Metric names (OpenTelemetry naming: dot-separated namespaces, snake_case words). */
export const MetricNames = {
  /** Counter of checks by outcome, source and limit name. Unit `{check}`. */
  CHECKS: 'tollgate.checks',
  /** Histogram of check duration as the caller saw it. Unit `s`. */
  CHECK_DURATION: 'tollgate.check.duration',
  /** Histogram of the number of checks carried by one store script call. Unit `{check}`. */
  BATCH_SIZE: 'tollgate.store.batch.size',
  /** Counter of checks the local deny cache answered without a round trip. Unit `{hit}`. */
  DENY_CACHE_HITS: 'tollgate.store.deny_cache.hits',
  /** Counter of errors raised by a store, by error code. Unit `{error}`. */
  STORE_ERRORS: 'tollgate.store.errors',
  /** Counter of circuit breaker state changes of a store, by the state entered. Unit `{change}`. */
  BREAKER_CHANGES: 'tollgate.store.breaker.changes',
  /** Counter of checks reported failed whose script call had been sent (Redis may have applied them). Unit `{check}`. */
  UNCONFIRMED_CHECKS: 'tollgate.store.unconfirmed_checks',
  /** UpDownCounter of checks waiting on a store. Unit `{check}`. */
  PENDING_CHECKS: 'tollgate.store.pending_checks',
  /** UpDownCounter of concurrency leases this process holds (taken, not released, not past their ttl), by limit name. Unit `{lease}`. */
  LEASES_IN_FLIGHT: 'tollgate.concurrency.in_flight',
  /** Counter of concurrency leases found expired without a release (removed by a later acquire), by limit name. Unit `{lease}`. */
  LEASES_EXPIRED: 'tollgate.concurrency.expired',
  /** Counter of units adjusted after the fact (settle, refund, penalize), by direction and limit name. Unit `{unit}`. */
  SETTLED_UNITS: 'tollgate.settled.units',
  /** Counter of HTTP requests the middleware handled, by result and policy. Unit `{request}`. */
  HTTP_REQUESTS: 'tollgate.http.requests',
} as const;

/** Attribute keys. Values are always from a small fixed set or a developer-chosen name, never a limited key. */
export const AttributeNames = {
  /** `allowed` | `denied` | `error`. */
  OUTCOME: 'tollgate.check.outcome',
  /** `redis` | `cache` | `memory` | `failure_policy`. */
  SOURCE: 'tollgate.check.source',
  /** The limit's `name` (compound checks: the item names joined by `,`). */
  LIMIT_NAME: 'tollgate.limit.name',
  /** `refunded` | `charged`: which way settled units went. */
  SETTLE_DIRECTION: 'tollgate.settle.direction',
  /** `open` | `closed` | `local`: the failure policy that answered. */
  FAILURE_POLICY: 'tollgate.failure.policy',
  /** The LimiterError code (or Redis error prefix on client spans) of a failure. */
  ERROR_TYPE: 'error.type',
  /** `closed` | `open` | `half-open`: the circuit breaker state entered. */
  BREAKER_STATE: 'tollgate.breaker.state',
  /** `redis` | `memory` | `custom`: the kind of store. */
  STORE_TYPE: 'tollgate.store.type',
  /** `allowed` | `denied` | `shadow_denied` | `skipped` | `error`. */
  HTTP_RESULT: 'tollgate.http.result',
  /** The middleware policy name. */
  HTTP_POLICY: 'tollgate.http.policy',
  /** Span: whether the check passed. */
  ALLOWED: 'tollgate.check.allowed',
  /** Span: whole units left (smallest across items). */
  REMAINING: 'tollgate.check.remaining',
  /** Span: ms until a retry could pass, rounded up; 0 when allowed; -1 when never. */
  RETRY_AFTER_MS: 'tollgate.check.retry_after_ms',
  /** Span: ms until the bucket is full again (largest across items), rounded up. */
  RESET_AFTER_MS: 'tollgate.check.reset_after_ms',
  /** Span: number of (key, limit) items in the check. */
  ITEMS: 'tollgate.check.items',
  /** Client span: number of checks carried by the script call. */
  BATCH_SIZE: 'tollgate.batch.size',
  /** Database semantic conventions (client span). */
  DB_SYSTEM_NAME: 'db.system.name',
  DB_OPERATION_NAME: 'db.operation.name',
  DB_STORED_PROCEDURE_NAME: 'db.stored_procedure.name',
  DB_NAMESPACE: 'db.namespace',
  DB_RESPONSE_STATUS_CODE: 'db.response.status_code',
  SERVER_ADDRESS: 'server.address',
  SERVER_PORT: 'server.port',
} as const;

/** Span name of a check. */
export const CHECK_SPAN_NAME = 'tollgate.check';

/**
 * Bucket advice for check durations, in seconds: 10 µs (an in-process or
 * deny-cache answer) up to 5 s (a store past its deadline).
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Bucket advice for batch sizes: powers of two up to 1024 checks per script call. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * Most distinct limit or policy names one meter keeps apart; later names are
 * reported as {@link OVERFLOW_NAME}, so a name built from request data cannot
 * grow the number of series without bound.
 */
export const MAX_NAMES = 100;

/** The name reported for names past {@link MAX_NAMES}. */
export const OVERFLOW_NAME = '_other';
