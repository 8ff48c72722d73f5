/**
 * Policies: validates a policy definition (from options or from a resolver)
 * once and compiles it into what each request needs: per limit its name,
 * key and cost functions, key namespace, and the pre-serialized pieces of
 * the `RateLimit-Policy` and `RateLimit` headers.
 */
import { type AnyLimit, isConcurrencyLimit, resolveConcurrency } from '../src/concurrency.js';
import { ErrorCodes, LimiterError, describe } from '../src/errors.js';
import { type Limit, resolveLimit } from '../src/limits.js';
import { type ResolvedQuota, isQuota, resolveQuota } from '../src/quotas.js';
import { type StandardHeaders, policyHeaderFor } from './headers.js';
import { type KeyShape, buildKey, keyShape, scopeWideKey } from './namespace.js';
import { clampInteger, isSfStringSafe, serializeString } from './structured-fields.js';
import type { CostFunction, KeyFunction, LimitSpec, PolicyDefinition } from './types.js';

/** One limit of a compiled policy. */
export interface CompiledLimit<Req> {
  /** Name shown in headers and problem details. */
  readonly name: string;
  /** The rate limit, calendar quota or concurrency limit. */
  readonly limit: AnyLimit;
  /** True for a concurrency limit: a lease held while the request is in progress, never described by the rate-limit headers. */
  readonly concurrency: boolean;
  /** Burst, or a quota's amount (the `q` of RateLimit-Policy); for a concurrency limit, its most leases at once. */
  readonly quota: number;
  /**
   * burst × period / rate in seconds, rounded up, from the limit as given
   * (the `w` of RateLimit-Policy); for a quota, the length of the window
   * current when the policy was compiled (headers use {@link windowNow});
   * for a concurrency limit, its lease ttl in seconds.
   */
  readonly window: number;
  /** Emission interval T in µs (as the stores use it); 0 for a quota or a concurrency limit. */
  readonly interval: number;
  /** A quota's calendar (undefined for a rate limit). */
  readonly calendar: ResolvedQuota | undefined;
  /** Picks the request's key; undefined for a scope-wide limit (one bucket for the whole scope). */
  readonly key: KeyFunction<Req> | undefined;
  /** The storage key of a scope-wide limit (set exactly when `key` is undefined). */
  readonly scopeKey: string | undefined;
  /** The request's cost. */
  readonly cost: CostFunction<Req> | number;
  /** Namespace of this limit's storage keys. */
  readonly shape: KeyShape;
  /** `"<name>";r=`: the start of this limit's RateLimit list item. */
  readonly stateStart: string;
}

/** A validated policy, ready for requests. */
export interface CompiledPolicy<Req> {
  /** Policy name (metrics, keys). */
  readonly name: string;
  /** The limits, checked all-or-nothing. */
  readonly limits: readonly CompiledLimit<Req>[];
  /** The whole `RateLimit-Policy` field value, in the middleware's header format (as compiled; see `calendar`). */
  readonly policyHeader: string;
  /** True when a limit is a quota: its `w` follows the current window, so the header is built per request. */
  readonly calendar: boolean;
}

/** What a policy inherits from the middleware options. */
export interface PolicyDefaults<Req> {
  /** The middleware's name: the default policy name. */
  readonly name: string;
  /** First key segment: the middleware's name, or a per-route name. */
  readonly namespace: string;
  /** Default key function. */
  readonly key: KeyFunction<Req>;
  /** True when the middleware's `key` option was given (else `key` is the default `ipKey()`). */
  readonly keyGiven: boolean;
  /** Default cost. */
  readonly cost: CostFunction<Req> | number;
  /** Format of the standard headers (for the precomputed `RateLimit-Policy`). */
  readonly format?: Exclude<StandardHeaders, false>;
}

function invalid(field: string, value: unknown, allowed: string): LimiterError {
  return new LimiterError(ErrorCodes.INVALID_OPTION, `${field} must be ${allowed}, got ${describe(value)}`);
}

/** Checks a name used in headers and keys: non-empty printable ASCII, at most 128 characters. */
export function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128 || !isSfStringSafe(value)) {
    throw invalid(field, value, 'a non-empty string of at most 128 printable ASCII characters');
  }
  return value;
}

/** Checks a cost option: an integer >= 0 or a function. */
export function checkCostOption<Req>(value: unknown, field: string): CostFunction<Req> | number | undefined {
  if (value === undefined || typeof value === 'function') return value as CostFunction<Req> | undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(field, value, 'an integer >= 0 or a function (req) => cost');
  return value;
}

/** Checks a key option: a function. */
export function checkKeyOption<Req>(value: unknown, field: string): KeyFunction<Req> | undefined {
  if (value === undefined || typeof value === 'function') return value as KeyFunction<Req> | undefined;
  throw invalid(field, value, 'a function (req) => key');
}

function isLimitSpec<Req>(value: AnyLimit | LimitSpec<Req>): value is LimitSpec<Req> {
  return typeof value === 'object' && value !== null && 'limit' in value;
}

function checkLimit(value: unknown, field: string): AnyLimit {
  if (typeof value !== 'object' || value === null) {
    throw invalid(field, value, 'a limit { rate, period, burst? } such as perSecond(10), a quota(n, unit), or concurrency(max, { ttl })');
  }
  try {
    if (isQuota(value)) return (resolveQuota(value), value);
    if (isConcurrencyLimit(value)) return (resolveConcurrency(value), value);
    resolveLimit(value as Limit);
  } catch (error) {
    if (error instanceof LimiterError) throw new LimiterError(error.code, `${field}: ${error.message}`, { cause: error });
    throw error;
  }
  return value as Limit;
}

/**
 * Validates and compiles a policy definition. `field` names it in errors
 * (e.g. `rateLimit options` or `policy(req) result`).
 */
export function compilePolicy<Req>(definition: PolicyDefinition<Req>, defaults: PolicyDefaults<Req>, field: string): CompiledPolicy<Req> {
  if (typeof definition !== 'object' || definition === null) throw invalid(field, definition, 'an object { name?, scope?, limit | limits, key?, cost? }');
  const name = definition.name === undefined ? defaults.name : checkName(definition.name, `${field} "name"`);
  const scope = definition.scope === undefined ? undefined : checkScope(definition.scope, `${field} "scope"`);
  // A scope with no key anywhere (policy or middleware option) is one bucket for the whole scope (e.g. the tenant).
  const ownKey = checkKeyOption<Req>(definition.key, `${field} "key"`);
  const key = ownKey ?? (scope !== undefined && !defaults.keyGiven ? undefined : defaults.key);
  const cost = checkCostOption<Req>(definition.cost, `${field} "cost"`) ?? defaults.cost;
  const { limit, limits } = definition;
  if ((limit === undefined) === (limits === undefined)) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${field} needs exactly one of "limit" and "limits", got ${limit === undefined ? 'neither' : 'both'}`);
  }
  const entries: [string, AnyLimit, KeyFunction<Req> | undefined, CostFunction<Req> | number][] = [];
  if (limit !== undefined) {
    const l = checkLimit(limit, `${field} "limit"`);
    entries.push([l.name === undefined ? name : checkName(l.name, `${field} "limit.name"`), l, key, cost]);
  } else {
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits) || Object.keys(limits).length === 0) {
      throw invalid(`${field} "limits"`, limits, 'a non-empty object of named limits { user: perSecond(10), ... }');
    }
    for (const [limitName, value] of Object.entries(limits)) {
      const f = `${field} "limits.${limitName}"`;
      checkName(limitName, `${field} limit name`);
      if (isLimitSpec(value)) {
        entries.push([
          limitName,
          checkLimit(value.limit, `${f}.limit`),
          checkKeyOption<Req>(value.key, `${f}.key`) ?? key,
          checkCostOption<Req>(value.cost, `${f}.cost`) ?? cost,
        ]);
      } else {
        entries.push([limitName, checkLimit(value, f), key, cost]);
      }
    }
  }
  const compound = entries.length > 1;
  const compiled = entries.map(([limitName, given, k, c]): CompiledLimit<Req> => {
    // Carry the name into the limit, so the limiter's own metrics are labelled with it.
    const l: AnyLimit = given.name === limitName ? given : Object.freeze({ ...given, name: limitName });
    const shape = keyShape(defaults.namespace, name, scope, limitName, compound);
    if (isConcurrencyLimit(l)) {
      const slots = resolveConcurrency(l);
      return {
        name: limitName,
        limit: l,
        concurrency: true,
        quota: clampInteger(slots.max),
        window: clampInteger(Math.ceil(slots.ttl / 1_000_000)),
        interval: 0,
        calendar: undefined,
        key: k,
        scopeKey: k === undefined ? scopeWideKey(shape) : undefined,
        cost: c,
        shape,
        stateStart: `${serializeString(limitName)};r=`,
      };
    }
    const calendar = isQuota(l) ? resolveQuota(l) : undefined;
    const resolved = isQuota(l) ? undefined : resolveLimit(l);
    return {
      name: limitName,
      limit: l,
      concurrency: false,
      quota: clampInteger(calendar ? calendar.amount : (resolved?.burst ?? 0)),
      window: calendar ? windowNow(calendar) : clampInteger(windowSeconds(resolved?.burst ?? 0, (l as Limit).period, (l as Limit).rate)),
      interval: resolved?.interval ?? 0,
      calendar,
      key: k,
      scopeKey: k === undefined ? scopeWideKey(shape) : undefined,
      cost: c,
      shape,
      stateStart: `${serializeString(limitName)};r=`,
    };
  });
  return { name, limits: compiled, policyHeader: policyHeaderFor(compiled, defaults.format), calendar: compiled.some((l) => l.calendar !== undefined) };
}

/** A quota's `w`: the length in seconds (rounded up) of its window current on this process's clock. */
export function windowNow(calendar: ResolvedQuota): number {
  const b = calendar.boundaries(Date.now() * 1000);
  return clampInteger(Math.ceil((b.end - b.start) / 1_000_000));
}

/** burst × period / rate, in whole seconds rounded up, computed exactly on integers (period in µs). */
export function windowSeconds(burst: number, periodMs: number, rate: number): number {
  const periodUs = BigInt(Math.round(periodMs * 1000));
  const numerator = BigInt(burst) * periodUs;
  const denominator = BigInt(rate) * 1_000_000n;
  return Number((numerator + denominator - 1n) / denominator);
}

/** The storage key of a request for one compiled limit (its scope-wide key, or its shape around the request's key). */
export function storageKey<Req>(limit: CompiledLimit<Req>, key: string): string {
  return limit.scopeKey ?? buildKey(limit.shape, key);
}

function checkScope(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw invalid(field, value, 'a non-empty string of at most 256 characters');
  return value;
}
