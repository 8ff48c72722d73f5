/**
 * What a store reports about itself: its health (`ready | degraded | down`
 * with the last error, from `store.health()` or `limiter.health()`) and the
 * events it raises once each (circuit breaker state changes, the eviction
 * warning), for an `onEvent` hook or, by default, Node's warning channel.
 */
import type { BreakerChange, BreakerState } from './breaker.js';
import type { LimiterError } from './errors.js';

/**
 * `ready`: checks go to the store and it answers. `degraded`: it answers, but
 * not fully (a connection is down, failures were seen since the last
 * success, or the breaker is probing). `down`: checks are not sent (breaker
 * open, or no connection can serve).
 */
export type HealthStatus = 'ready' | 'degraded' | 'down';

/** A store's health report. */
export interface StoreHealth {
  /** The overall status. */
  readonly status: HealthStatus;
  /** The circuit breaker's state (`closed` for a store without one; on a cluster, the worst of its masters'). */
  readonly breaker: BreakerState;
  /** The latest store failure seen, if any (kept after recovery). */
  readonly lastError?: LimiterError;
  /** When the breaker last changed state, ms since the epoch. */
  readonly since?: number;
  /** Connections that can take commands now, of `connections`. */
  readonly ready?: number;
  /** Connections of the store. */
  readonly connections?: number;
  /** On a Redis Cluster: each master's breaker state, by `host:port` (each master has a breaker of its own). */
  readonly nodes?: Readonly<Record<string, BreakerState>>;
}

/** The breaker of a store changed state (reported once per change). */
export interface BreakerEvent extends BreakerChange {
  /** Discriminant. */
  readonly type: 'breaker';
}

/** Redis may evict limiter keys under memory pressure (reported once per store, on first connect). */
export interface EvictionRiskEvent {
  /** Discriminant. */
  readonly type: 'eviction-risk';
  /** Redis's `maxmemory-policy`, e.g. `allkeys-lru`. */
  readonly policy: string;
  /** What is at risk and how to fix it. */
  readonly message: string;
}

/** Events a RedisStore reports through its `onEvent` option. */
export type StoreEvent = BreakerEvent | EvictionRiskEvent;

/** Code of the process warning raised for an {@link EvictionRiskEvent} when no `onEvent` hook is given. */
export const EVICTION_WARNING_CODE = 'TOLLGATE_EVICTION_POLICY';

/**
 * The `maxmemory-policy` values under which Redis may delete limiter keys
 * (every limiter key has a TTL, so `volatile-*` applies too); undefined when safe.
 */
export function evictionRisk(infoMemory: string): EvictionRiskEvent | undefined {
  const policy = /^maxmemory_policy:(\S+)/m.exec(infoMemory)?.[1];
  if (policy === undefined || !/^(allkeys|volatile)-/.test(policy)) return undefined;
  return {
    type: 'eviction-risk',
    policy,
    message:
      `Redis maxmemory-policy is ${policy}: under memory pressure Redis may evict rate-limit keys, which resets their limits. ` +
      'Use maxmemory-policy noeviction on this Redis (CONFIG SET maxmemory-policy noeviction, or a Redis of its own for limits); ' +
      'with noeviction a full Redis answers writes with OOM errors, which go through the failure policy.',
  };
}
