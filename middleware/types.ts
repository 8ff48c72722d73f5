/**
 * The public option and result types shared by the Express middleware and
 * the Fastify plugin. `Req` is the framework's request type and `Res` its
 * response (Express `Response`, Fastify `FastifyReply`).
 */
import type { MeterProvider } from '@opentelemetry/api';
import type { LimiterError } from '../src/errors.js';
import type { AdjustResult } from '../src/reservation.js';
import type { AnyLimit } from '../src/concurrency.js';
import type { Limiter } from '../src/limiter.js';
import type { LimitResult } from '../src/result.js';
import type { Store } from '../src/store.js';
import type { HttpHooks } from '../src/telemetry/hooks.js';

/** Something that may be awaited. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Returns the key a limit counts against for this request (client IP, user
 * id, API key...). `undefined`, `null` or `""` means the limit does not
 * apply to this request.
 */
export type KeyFunction<Req> = (req: Req) => MaybePromise<string | undefined | null>;

/** Returns the units a request takes (an integer >= 0; 0 only peeks). */
export type CostFunction<Req> = (req: Req) => MaybePromise<number>;

/** One named limit of a policy, with its own key and cost when they differ from the policy's. */
export interface LimitSpec<Req> {
  /**
   * The limit, e.g. `perSecond(10)`, a calendar quota, e.g. `quota(100_000, 'month')`, or a
   * concurrency limit, e.g. `concurrency(5, { ttl: 30_000 })`: a lease held while the request
   * is in progress (given back when the response is done or the client goes away; `cost` does
   * not apply to it).
   */
  readonly limit: AnyLimit;
  /** Key for this limit. Default: the policy's `key`. */
  readonly key?: KeyFunction<Req>;
  /** Cost for this limit. Default: the policy's `cost`. */
  readonly cost?: CostFunction<Req> | number;
}

/** Named limits, checked all-or-nothing: `{ user: perSecond(10), tenant: { limit: perDay(10_000), key } }`. */
export type LimitMap<Req> = Readonly<Record<string, AnyLimit | LimitSpec<Req>>>;

/** What a policy resolver returns for a request: the limits that apply to it. */
export interface PolicyDefinition<Req> {
  /** Policy name, used in keys and metrics (e.g. the tenant's plan). Default: the middleware's `name`. */
  readonly name?: string;
  /**
   * The scope the policy's buckets belong to (e.g. the tenant id): two scopes
   * never share a bucket. With no `key` (here or in the middleware's options),
   * each limit is ONE bucket shared by the whole scope: the tenant's quota,
   * whichever client sends the request. Give `key` (or a limit's own `key`)
   * for buckets per user or per IP within the scope. In Redis Cluster all keys
   * of a scope live in one slot.
   */
  readonly scope?: string;
  /** A single limit (exactly one of `limit` and `limits`). */
  readonly limit?: AnyLimit;
  /** Several named limits, checked all-or-nothing. */
  readonly limits?: LimitMap<Req>;
  /**
   * Key of the limits that have none of their own. Default: the middleware's
   * `key`; with a `scope` and no `key` option anywhere, the whole scope is one bucket.
   */
  readonly key?: KeyFunction<Req>;
  /** Cost of the limits that have none of their own. Default: the middleware's `cost`. */
  readonly cost?: CostFunction<Req> | number;
}

/** A configuration warning, reported at most once per middleware. */
export interface TollgateWarning {
  /** Stable code, e.g. `WARN_PERMISSIVE_TRUST_PROXY`. */
  readonly code: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** Receives configuration warnings. Default: `process.emitWarning` (Express), `fastify.log.warn` (Fastify). */
export type WarningHandler = (warning: TollgateWarning) => void;

/** Resolves the policy of a request (e.g. from the tenant's plan). `undefined`/`null` leaves the request unlimited. */
export type PolicyResolver<Req> = (req: Req) => MaybePromise<PolicyDefinition<Req> | undefined | null>;

/** One limit as applied to a request. */
export interface AppliedLimit {
  /** The limit's name, as in the headers. */
  readonly name: string;
  /** The namespaced key the limiter counted against. */
  readonly key: string;
  /** The limit. */
  readonly limit: AnyLimit;
  /** Units requested (1 for a concurrency limit: one lease). */
  readonly cost: number;
}

/** The outcome of the middleware for one request: `req.rateLimit` / `request.rateLimit`. */
export interface RateLimitInfo {
  /** The policy that applied. */
  readonly policy: string;
  /** The limiter's decision (in shadow mode the request passes even when this is false). */
  readonly allowed: boolean;
  /** True when the middleware runs in shadow mode. */
  readonly shadow: boolean;
  /** The limits applied, in order; aligned with `result.items` for compound checks. */
  readonly limits: readonly AppliedLimit[];
  /** The limiter's result (remaining, retryAfter, resetAfter in ms; per-item results for compound checks). */
  readonly result: LimitResult<AnyLimit>;
  /**
   * Settles the request's cost once it is known (a handler that learns it
   * late: tokens used, bytes stored): gives back or charges the difference
   * from the cost the middleware took, on every applied limit (`settle(n)`)
   * or per limit in order (`settle([n1, n2])`); once (see Reservation.settle).
   * Not an enumerable field.
   */
  settle(actual: number | readonly number[]): Promise<AdjustResult>;
}

/** Replaces the default 429 response. Headers are already set; the handler must send the response. */
export type DenyHandler<Req, Res> = (req: Req, res: Res, info: RateLimitInfo) => MaybePromise<void>;

/** Options shared by `rateLimit()` (Express) and the Fastify plugin. */
export interface RateLimitOptions<Req, Res> {
  /** The limiter to use. Default: a new Limiter over `store` (or a MemoryStore). */
  readonly limiter?: Limiter;
  /** Store of the default limiter (not together with `limiter`). Default: a MemoryStore. */
  readonly store?: Store;
  /**
   * Name of this middleware: the policy name in headers and metrics, the
   * namespace of its keys and of its double-count guard. Middlewares sharing
   * a name share buckets and count a request once. Default: `"default"` in
   * headers, with a key namespace of the middleware's own (`default`,
   * `default-2`, ... in creation order), so distinct middlewares each apply.
   */
  readonly name?: string;
  /** A single limit (exactly one of `limit`, `limits` and `policy`). */
  readonly limit?: AnyLimit;
  /** Several named limits checked all-or-nothing. */
  readonly limits?: LimitMap<Req>;
  /** Resolves the policy per request (per-tenant plans). */
  readonly policy?: PolicyResolver<Req>;
  /** Cache key for resolved policies (e.g. the API key). Without it the resolver runs on every request. */
  readonly policyKey?: (req: Req) => string | undefined | null;
  /** ms a resolved policy is reused. Default 10,000. */
  readonly policyTtl?: number;
  /** Most resolved policies cached. Default 10,000. */
  readonly policyCacheSize?: number;
  /** Key of every limit without its own. Default: the client IP grouped by subnet, `ipKey()`. */
  readonly key?: KeyFunction<Req>;
  /** Units per request. Default 1. */
  readonly cost?: CostFunction<Req> | number;
  /**
   * Format of the standard `RateLimit-Policy` and `RateLimit` fields:
   * `"draft-10"` (draft-ietf-httpapi-ratelimit-headers-10, the default; `true`
   * means the same), `"draft-8"`, `"draft-7"`, or `false` for none.
   */
  readonly standardHeaders?: 'draft-10' | 'draft-8' | 'draft-7' | boolean;
  /** Send `X-RateLimit-Limit`, `-Remaining`, `-Reset`. Default false. */
  readonly legacyHeaders?: boolean;
  /** Evaluate, set headers and record metrics, but never block. Default false. */
  readonly shadow?: boolean;
  /** Requests for which this returns true are not limited. */
  readonly skip?: (req: Req) => MaybePromise<boolean>;
  /** Client IPs or CIDR ranges that are never limited, e.g. `["10.0.0.0/8", "::1"]`. */
  readonly allowList?: readonly string[];
  /**
   * When the check fails (the store failed and the limiter's `onStoreError`
   * is `throw`, or a key/cost/policy/policyKey/skip function threw or
   * rejected): `true` lets the request through unlimited. Default false: a
   * store failure is answered 503 (problem+json, generic detail) and a
   * throwing function goes to the framework's error handler as a
   * LimiterError with code `ERR_CALLBACK` (the original error as `cause`).
   */
  readonly failOpen?: boolean;
  /** Called once per request whose check failed, with the typed error (`cause` holds the original): for logging. */
  readonly onError?: (error: LimiterError, req: Req) => void | Promise<void>;
  /** Receives configuration warnings such as a permissive trust-proxy setting, each at most once. */
  readonly onWarning?: WarningHandler;
  /** Replaces the default 429 problem+json response. */
  readonly handler?: DenyHandler<Req, Res>;
  /** The `type` URI of the problem+json body. Default `"about:blank"`. */
  readonly problemType?: string;
  /** Custom metrics hooks, called once per request (instead of the OpenTelemetry ones). */
  readonly hooks?: HttpHooks;
  /** OpenTelemetry meter provider for `tollgate.http.requests` (and for the default limiter). Default: the global one. */
  readonly meterProvider?: MeterProvider;
  /** False turns the middleware's metrics off (and the default limiter's telemetry). Default true. */
  readonly telemetry?: boolean;
}
