/**
 * tollgate: GCRA rate limits and concurrency limits, decided atomically in
 * Redis (or in-process).
 * This is the package's public entry point.
 */
export { Limiter } from './limiter.js';
export type { AllowOptions, LimitItem, LimiterOptions, WaitOptions } from './limiter.js';
export { RedisStore } from './redis-store.js';
export type { RedisStoreOptions, RedisPoolOptions, RedisBatchOptions, RedisBreakerOptions, DenyCacheOptions, RedisStoreStats } from './redis-store.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export { perSecond, perMinute, perHour, perDay, resolveLimit } from './limits.js';
export type { Limit, ResolvedLimit } from './limits.js';
export { concurrency, resolveConcurrency } from './concurrency.js';
export type { AnyLimit, ConcurrencyLimit, ConcurrencyOptions, ResolvedConcurrency } from './concurrency.js';
export type { Lease } from './lease.js';
export { quota, resolveQuota } from './quotas.js';
export type { Quota, QuotaOptions, ResolvedQuota, QuotaBoundaries } from './quotas.js';
export type { Reservation, AdjustResult, AdjustItemResult } from './reservation.js';
export type { CalendarUnit } from './calendar.js';
export { LimiterError, ErrorCodes } from './errors.js';
export type { ErrorCode } from './errors.js';
export type { LimitResult, ItemResult, CompoundResult, FailureReason } from './result.js';
export type { FailurePolicy } from './failure.js';
export type {
  Store,
  Check,
  AnyCheck,
  CheckItem,
  AnyItem,
  RateItem,
  AcquireItem,
  ReleaseItem,
  ExtendItem,
  ConcurrencyItem,
  ItemKind,
  CheckMode,
  CheckOutcome,
  AnyOutcome,
  ItemOutcome,
  AnyItemOutcome,
  RateOutcome,
  LeaseOutcome,
  OutcomeSource,
  EvaluateOptions,
  QuotaItem,
  QuotaOutcome,
  QuotaWindows,
  RateAdjustItem,
  QuotaAdjustItem,
  AdjustOutcome,
} from './store.js';
export type { StoreHealth, HealthStatus, StoreEvent, BreakerEvent, EvictionRiskEvent } from './health.js';
export { EVICTION_WARNING_CODE } from './health.js';
export type { BreakerState } from './breaker.js';
export type { Clock } from './clock.js';
export { MAX_KEY_LENGTH } from './inputs.js';
export { createHttpHooks } from './telemetry/http.js';
export type { HttpHooks, HttpResult, StoreHooks, BatchTarget } from './telemetry/hooks.js';
export type { TelemetryOptions } from './telemetry/instrumentation.js';
export { MetricNames, AttributeNames } from './telemetry/names.js';
