/**
 * Validates the middleware options once, at construction: every invalid
 * option throws a LimiterError (ERR_INVALID_OPTION, or ERR_INVALID_LIMIT for
 * a bad limit) naming the option, the value and what is allowed.
 */
import { ErrorCodes, LimiterError, describe } from '../src/errors.js';
import { Limiter } from '../src/limiter.js';
import { integerOption, objectOption } from '../src/options.js';
import type { Store } from '../src/store.js';
import type { MeterProvider } from '@opentelemetry/api';
import { type HttpHooks, noopHttpHooks } from '../src/telemetry/hooks.js';
import { createHttpHooks } from '../src/telemetry/http.js';
import { STANDARD_HEADER_FORMATS, type StandardHeaders } from './headers.js';
import { nextDefaultName } from './instance-name.js';
import { type IpRange, parseRange } from './ip.js';
import { ipKey } from './keys.js';
import { type CompiledPolicy, checkCostOption, checkKeyOption, checkName, compilePolicy } from './policy.js';
import type { CostFunction, DenyHandler, KeyFunction, MaybePromise, PolicyDefinition, PolicyResolver, RateLimitOptions, WarningHandler } from './types.js';

/** The option names every adapter accepts. */
export const COMMON_OPTIONS = [
  'limiter', 'store', 'name', 'limit', 'limits', 'policy', 'policyKey', 'policyTtl', 'policyCacheSize', 'key', 'cost',
  'standardHeaders', 'legacyHeaders', 'shadow', 'skip', 'allowList', 'failOpen', 'handler', 'problemType', 'hooks',
  'meterProvider', 'telemetry', 'onError', 'onWarning',
] as const;

/** Options after validation, with defaults applied. */
export interface NormalizedOptions<Req, Res> {
  /** The limiter. */
  readonly limiter: Limiter;
  /** Middleware name: default policy and limit name in headers and metrics. */
  readonly name: string;
  /** First segment of every key and the double-count guard's name (the name, or a per-route name). */
  readonly namespace: string;
  /** The compiled static policy, when `limit` or `limits` was given. */
  readonly staticPolicy: CompiledPolicy<Req> | undefined;
  /** The resolver, when `policy` was given. */
  readonly resolver: PolicyResolver<Req> | undefined;
  /** Cache key of resolved policies. */
  readonly policyKey: ((req: Req) => string | undefined | null) | undefined;
  /** TTL of resolved policies, ms. */
  readonly policyTtl: number;
  /** Most cached policies. */
  readonly policyCacheSize: number;
  /** Default key function. */
  readonly key: KeyFunction<Req>;
  /** True when the `key` option was given (else `key` is the default `ipKey()`). */
  readonly keyGiven: boolean;
  /** Default cost. */
  readonly cost: CostFunction<Req> | number;
  /** Format of the standard headers, or false for none. */
  readonly standardHeaders: StandardHeaders;
  /** The format used to precompute `RateLimit-Policy` (draft-10 when standard headers are off). */
  readonly headerFormat: Exclude<StandardHeaders, false>;
  /** Send the legacy headers. */
  readonly legacyHeaders: boolean;
  /** Never block. */
  readonly shadow: boolean;
  /** Skip predicate. */
  readonly skip: ((req: Req) => MaybePromise<boolean>) | undefined;
  /** Parsed allow list (empty: none). */
  readonly allowList: readonly IpRange[];
  /** Let the request through when the check fails (store failure or a throwing user function). */
  readonly failOpen: boolean;
  /** Called once per request whose check failed. */
  readonly onError: ((error: LimiterError, req: Req) => unknown) | undefined;
  /** Receives configuration warnings (each at most once per middleware). */
  readonly onWarning: WarningHandler | undefined;
  /** Custom 429 handler. */
  readonly handler: DenyHandler<Req, Res> | undefined;
  /** Problem type URI. */
  readonly problemType: string;
  /** Metrics hooks. */
  readonly hooks: HttpHooks;
}

function invalid(owner: string, name: string, value: unknown, allowed: string): LimiterError {
  return new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} option "${name}" must be ${allowed}, got ${describe(value)}`);
}

function booleanOption(owner: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(owner, name, value, 'a boolean');
  return value;
}

function standardHeadersOption(owner: string, value: unknown): StandardHeaders {
  if (value === undefined || value === true) return 'draft-10';
  if (value === false) return false;
  if (typeof value === 'string' && (STANDARD_HEADER_FORMATS as readonly string[]).includes(value)) return value as StandardHeaders;
  throw invalid(owner, 'standardHeaders', value, `one of ${STANDARD_HEADER_FORMATS.map((f) => `"${f}"`).join(', ')}, true (= "draft-10") or false`);
}

function functionOption<F>(owner: string, name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(owner, name, value, 'a function');
  return value as F;
}

function limiterOption(owner: string, o: Record<string, unknown>): Limiter {
  const { limiter, store } = o;
  if (limiter !== undefined && store !== undefined) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} options "limiter" and "store" cannot be used together: give the store to the Limiter`);
  }
  if (limiter === undefined) {
    const telemetry: Record<string, unknown> = {};
    if (o.meterProvider !== undefined) telemetry.meterProvider = o.meterProvider;
    if (o.telemetry !== undefined) telemetry.telemetry = o.telemetry;
    return new Limiter({ ...(store === undefined ? {} : { store: store as Store }), ...telemetry });
  }
  if (!(limiter instanceof Limiter)) throw invalid(owner, 'limiter', limiter, 'a Limiter');
  return limiter;
}

function hooksOption(owner: string, o: Record<string, unknown>): HttpHooks {
  const value = o.hooks;
  if (o.telemetry !== undefined && typeof o.telemetry !== 'boolean') throw invalid(owner, 'telemetry', o.telemetry, 'a boolean');
  if (value !== undefined && o.meterProvider !== undefined) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} options "hooks" and "meterProvider" cannot be used together`);
  }
  if (value === undefined) {
    if (o.telemetry === false) return noopHttpHooks;
    const provider = o.meterProvider;
    if (provider !== undefined && (typeof provider !== 'object' || provider === null || typeof (provider as MeterProvider).getMeter !== 'function')) {
      throw invalid(owner, 'meterProvider', provider, 'an OpenTelemetry MeterProvider (an object with getMeter())');
    }
    return createHttpHooks(provider as MeterProvider | undefined);
  }
  if (typeof value !== 'object' || value === null || typeof (value as HttpHooks).onRequest !== 'function') {
    throw invalid(owner, 'hooks', value, 'an object with an onRequest(result, policy) function');
  }
  return value as HttpHooks;
}

/**
 * Validates `options` for adapter `owner`. `extra` lists adapter-specific
 * option names that are allowed (and validated by the adapter); `namespace`
 * overrides the key namespace (default: the name; an unnamed middleware
 * without a namespace gets a name of its own).
 */
export function normalizeOptions<Req, Res>(
  owner: string,
  options: RateLimitOptions<Req, Res> | undefined,
  extra: readonly string[] = [],
  namespace?: string,
): NormalizedOptions<Req, Res> {
  const o = objectOption(owner, options);
  for (const k of Object.keys(o)) {
    if (!(COMMON_OPTIONS as readonly string[]).includes(k) && !extra.includes(k)) {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} option "${k}" is not known; known options: ${[...COMMON_OPTIONS, ...extra].join(', ')}`);
    }
  }
  const name = o.name === undefined ? 'default' : checkName(o.name, `${owner} option "name"`);
  // An unnamed middleware gets a key namespace of its own ("default", then "default-2", ... in creation
  // order), so two distinct middlewares never share buckets or the double-count guard by accident.
  const keyNamespace = namespace ?? (o.name === undefined ? nextDefaultName() : name);
  const givenKey = checkKeyOption<Req>(o.key, `${owner} option "key"`);
  const key = givenKey ?? (ipKey() as KeyFunction<Req>);
  const standardHeaders = standardHeadersOption(owner, o.standardHeaders);
  const headerFormat = standardHeaders === false ? 'draft-10' : standardHeaders;
  const cost = checkCostOption<Req>(o.cost, `${owner} option "cost"`) ?? 1;
  const given = (['limit', 'limits', 'policy'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new LimiterError(
      ErrorCodes.INVALID_OPTION,
      `${owner} needs exactly one of the options "limit", "limits" and "policy", got ${given.length === 0 ? 'none' : given.map((g) => `"${g}"`).join(' and ')}`,
    );
  }
  const resolver = functionOption<PolicyResolver<Req>>(owner, 'policy', o.policy);
  const staticPolicy =
    resolver === undefined
      ? compilePolicy(
          { limit: o.limit, limits: o.limits } as PolicyDefinition<Req>,
          { name, namespace: keyNamespace, key, keyGiven: givenKey !== undefined, cost, format: headerFormat },
          `${owner} options`,
        )
      : undefined;
  const allowList = o.allowList;
  if (allowList !== undefined && !Array.isArray(allowList)) throw invalid(owner, 'allowList', allowList, 'an array of IP addresses or CIDR ranges');
  const problemType = o.problemType ?? 'about:blank';
  if (typeof problemType !== 'string' || problemType.length === 0) throw invalid(owner, 'problemType', problemType, 'a non-empty URI string');
  return {
    limiter: limiterOption(owner, o),
    name,
    namespace: keyNamespace,
    staticPolicy,
    resolver,
    policyKey: functionOption(owner, 'policyKey', o.policyKey),
    policyTtl: integerOption(owner, 'policyTtl', o.policyTtl, 10_000, 0),
    policyCacheSize: integerOption(owner, 'policyCacheSize', o.policyCacheSize, 10_000, 1),
    key,
    keyGiven: givenKey !== undefined,
    cost,
    standardHeaders,
    headerFormat,
    legacyHeaders: booleanOption(owner, 'legacyHeaders', o.legacyHeaders, false),
    shadow: booleanOption(owner, 'shadow', o.shadow, false),
    skip: functionOption(owner, 'skip', o.skip),
    allowList: ((allowList as unknown[] | undefined) ?? []).map((r, i) => parseRange(r, `${owner} option "allowList[${i}]"`)),
    failOpen: booleanOption(owner, 'failOpen', o.failOpen, false),
    onError: functionOption(owner, 'onError', o.onError),
    onWarning: functionOption(owner, 'onWarning', o.onWarning),
    handler: functionOption(owner, 'handler', o.handler),
    problemType,
    hooks: hooksOption(owner, o),
  };
}
