/**
 * The framework-neutral rate-limit engine behind the Express middleware and
 * the Fastify plugin: guards against the same limiter counting a request
 * twice, applies skip/allowList, resolves the policy (cached), builds
 * namespaced keys, asks the Limiter (all-or-nothing for several limits),
 * and turns the result into headers, `req.rateLimit`, a block/pass decision
 * and metrics. Every user function runs at most once per request; whatever
 * it throws becomes a typed LimiterError (ERR_CALLBACK). A policy with
 * concurrency limits takes their leases with the check; the decision's
 * `release` gives them back, and the adapter calls it when the response is
 * done or the client goes away.
 */
import { ErrorCodes, type LimiterError, toStoreError } from '../src/errors.js';
import { isStoreFailure } from '../src/failure.js';
import { type AnyLimit, isConcurrencyLimit } from '../src/concurrency.js';
import type { Limit } from '../src/limits.js';
import type { Quota } from '../src/quotas.js';
import type { Reservation } from '../src/reservation.js';
import type { CompoundResult } from '../src/result.js';
import { callbackError, invoke, isThenable } from './callbacks.js';
import { type HeaderChoice, type HeaderList, buildHeaders, policyHeaderFor } from './headers.js';
import { inRanges } from './ip.js';
import type { NormalizedOptions } from './options.js';
import { type CompiledLimit, type CompiledPolicy, compilePolicy, storageKey } from './policy.js';
import { PolicyCache } from './policy-cache.js';
import { type RateLimitProblem, problemFor } from './problem.js';
import type { AppliedLimit, PolicyDefinition, RateLimitInfo } from './types.js';

/** What the adapter must do with a checked request. */
export interface Decision {
  /** Attach as `req.rateLimit`. */
  readonly info: RateLimitInfo;
  /** Headers to set on the response (list fields join an earlier limiter's). */
  readonly headers: HeaderList;
  /** True when the request must be answered with 429 (denied and not in shadow mode). */
  readonly block: boolean;
  /** The limits applied (for the problem body). */
  readonly limits: readonly CompiledLimit<unknown>[];
  /**
   * Gives back the leases of the request's concurrency limits (idempotent,
   * never rejects); undefined when it holds none. The adapter calls it once
   * the response finished or the client went away.
   */
  readonly release: (() => void) | undefined;
}

/** Property under which the outcome is attached to the request. */
export const INFO_PROPERTY = 'rateLimit';

/** The answer for requests the middleware leaves alone. */
const PASS: Promise<undefined> = Promise.resolve(undefined);

/** A key and cost already obtained for a limit (possibly still pending). */
interface Prepared {
  readonly key: unknown;
  readonly cost?: unknown;
}

/** The per-middleware engine; adapters create one per configured middleware (or route). */
export class RateLimitCore<Req extends object, Res> {
  /** Validated options. */
  readonly options: NormalizedOptions<Req, Res>;
  readonly #guard: symbol;
  readonly #cache: PolicyCache<CompiledPolicy<Req> | null> | undefined;
  readonly #headerChoice: HeaderChoice;

  /** @param options - already validated options */
  constructor(options: NormalizedOptions<Req, Res>) {
    this.options = options;
    // Per namespace: an unnamed middleware has a namespace of its own, so only the same
    // instance, or instances sharing an explicit name (and so its buckets), count a request once.
    this.#guard = Symbol.for(`tollgate.rateLimit:${options.namespace}`);
    this.#cache = options.resolver && options.policyKey ? new PolicyCache(options.policyTtl, options.policyCacheSize) : undefined;
    this.#headerChoice = { standard: options.standardHeaders, legacy: options.legacyHeaders };
  }

  /**
   * Checks a request. Resolves undefined when the request passes untouched
   * (already counted by this limiter, skipped, allow-listed, no policy or no
   * key, or a failure under `failOpen`); otherwise resolves the decision or
   * rejects with a LimiterError (a store failure, or ERR_CALLBACK for a
   * throwing user function) for the adapter to answer.
   */
  check(req: Req): Promise<Decision | undefined> {
    const flags = req as Record<symbol, unknown>;
    if (flags[this.#guard] === true) return PASS;
    flags[this.#guard] = true;
    const o = this.options;
    const policy = o.staticPolicy;
    if (policy === undefined || policy.limits.length !== 1 || o.skip !== undefined || o.allowList.length > 0) {
      return this.#checkSlow(req);
    }
    // Fast path: a static single-limit policy, no skip rules; synchronous key and cost answer without an await.
    const l = policy.limits[0] as CompiledLimit<Req>;
    let key: unknown;
    let cost: unknown;
    try {
      key = l.key === undefined ? '' : invoke('key', l.key, req);
      if (isThenable(key)) return this.#applyPrepared(req, policy, { key });
      if (absent(key) && l.key !== undefined) {
        o.hooks.onRequest('skipped', policy.name);
        return PASS;
      }
      cost = costOf(l, (fn) => invoke('cost', fn, req));
      if (isThenable(cost)) return this.#applyPrepared(req, policy, { key, cost });
    } catch (error) {
      return this.#failed(error, policy.name, req);
    }
    const applied: AppliedLimit = { name: l.name, key: storageKey(l, String(key)), limit: l.limit, cost: cost as number };
    return this.#allow(applied).then(
      (result) => this.#decide(req, policy, policy.limits, this.#policyHeader(policy, policy.limits), [applied], result),
      (error: unknown) => this.#failed(error, policy.name, req),
    );
  }

  /** The default 429 body for a decision. */
  problem(decision: Decision): RateLimitProblem {
    return problemFor(this.options.problemType, decision.limits, decision.info);
  }

  #allow(applied: AppliedLimit): Promise<Reservation<AnyLimit>> {
    try {
      const { limiter } = this.options;
      // A concurrency limit alone: its lease, through allowAll (which can release it).
      if (isConcurrencyLimit(applied.limit)) return limiter.allowAll([{ key: applied.key, limit: applied.limit }]);
      return limiter.reserve(applied.key, applied.limit as Limit | Quota, { cost: applied.cost });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #applyPrepared(req: Req, policy: CompiledPolicy<Req>, first: Prepared): Promise<Decision | undefined> {
    try {
      return await this.#apply(req, policy, first);
    } catch (error) {
      return this.#failed(error, policy.name, req);
    }
  }

  async #checkSlow(req: Req): Promise<Decision | undefined> {
    const o = this.options;
    let policyName = o.name;
    try {
      if (await this.#skipped(req)) {
        o.hooks.onRequest('skipped', policyName);
        return undefined;
      }
      const policy = o.staticPolicy ?? (await this.#resolve(req));
      if (policy === null) {
        o.hooks.onRequest('skipped', policyName);
        return undefined;
      }
      policyName = policy.name;
      return await this.#apply(req, policy, undefined);
    } catch (error) {
      return this.#failed(error, policyName, req);
    }
  }

  /**
   * Records a failed check and reports it to `onError`; resolves undefined
   * (the request passes) under `failOpen`, else rejects with the typed error.
   */
  #failed(error: unknown, policyName: string, req: Req): Promise<undefined> {
    const o = this.options;
    const typed: LimiterError = toStoreError(error);
    o.hooks.onRequest('error', policyName);
    if (o.onError !== undefined) {
      try {
        const reported = o.onError(typed, req);
        if (isThenable(reported)) reported.then(undefined, () => undefined);
      } catch (hookError) {
        return Promise.reject(callbackError('onError', hookError));
      }
    }
    if (o.failOpen && (isStoreFailure(typed) || typed.code === ErrorCodes.CALLBACK)) return PASS;
    return Promise.reject(typed);
  }

  async #skipped(req: Req): Promise<boolean> {
    const o = this.options;
    if (o.allowList.length > 0) {
      const ip = (req as { ip?: unknown }).ip;
      if (typeof ip === 'string' && inRanges(ip, o.allowList)) return true;
    }
    if (o.skip === undefined) return false;
    const skip = invoke('skip', o.skip, req);
    return (isThenable(skip) ? await skip : skip) === true;
  }

  #resolve(req: Req): CompiledPolicy<Req> | null | Promise<CompiledPolicy<Req> | null> {
    const o = this.options;
    const resolver = o.resolver as NonNullable<typeof o.resolver>;
    const load = (): CompiledPolicy<Req> | null | Promise<CompiledPolicy<Req> | null> => {
      const defined = invoke('policy', resolver, req);
      return isThenable(defined) ? defined.then((d) => this.#compile(d)) : this.#compile(defined);
    };
    if (this.#cache === undefined || o.policyKey === undefined) return load();
    const cacheKey = invoke('policyKey', o.policyKey, req);
    if (cacheKey === undefined || cacheKey === null) return load();
    return this.#cache.get(String(cacheKey), load);
  }

  #compile(definition: PolicyDefinition<Req> | undefined | null): CompiledPolicy<Req> | null {
    if (definition === undefined || definition === null) return null;
    const o = this.options;
    return compilePolicy(
      definition,
      { name: o.name, namespace: o.namespace, key: o.key, keyGiven: o.keyGiven, cost: o.cost, format: o.headerFormat },
      'policy(req) result',
    );
  }

  /**
   * Applies a policy: obtains each limit's key (and, when present, its cost),
   * calling every distinct user function once, then checks the applied
   * limits all-or-nothing. `first` carries what the fast path already obtained for limit 0.
   */
  async #apply(req: Req, policy: CompiledPolicy<Req>, first: Prepared | undefined): Promise<Decision | undefined> {
    const o = this.options;
    const applied: AppliedLimit[] = [];
    const calls = new Map<unknown, unknown>();
    const once = (option: string, fn: (r: Req) => unknown): unknown => {
      if (calls.has(fn)) return calls.get(fn);
      const value = invoke(option, fn, req);
      calls.set(fn, value);
      return value;
    };
    let used: CompiledLimit<Req>[] | undefined;
    for (let i = 0; i < policy.limits.length; i += 1) {
      const l = policy.limits[i] as CompiledLimit<Req>;
      const given = i === 0 ? first : undefined;
      let key: unknown = given !== undefined ? given.key : l.key === undefined ? '' : once('key', l.key);
      if (isThenable(key)) key = await key;
      if (l.key !== undefined && absent(key)) {
        used ??= policy.limits.slice(0, i);
        continue;
      }
      let cost: unknown = given?.cost !== undefined ? given.cost : costOf(l, (fn) => once('cost', fn));
      if (isThenable(cost)) cost = await cost;
      used?.push(l);
      applied.push({ name: l.name, key: storageKey(l, String(key)), limit: l.limit, cost: cost as number });
    }
    const limits = used ?? policy.limits;
    if (applied.length === 0) {
      o.hooks.onRequest('skipped', policy.name);
      return undefined;
    }
    const single = applied.length === 1 ? (applied[0] as AppliedLimit) : undefined;
    const result = single ? await this.#allow(single) : await o.limiter.allowAll(applied);
    return this.#decide(req, policy, limits, this.#policyHeader(policy, limits), applied, result);
  }

  /**
   * The `RateLimit-Policy` value for the limits applied: the policy's
   * precomputed one when all of them applied and none is a calendar quota
   * (whose `w` is the current window's), else built now.
   */
  #policyHeader(policy: CompiledPolicy<Req>, limits: readonly CompiledLimit<Req>[]): string {
    if (limits === policy.limits && !policy.calendar) return policy.policyHeader;
    return policyHeaderFor(limits, this.options.headerFormat);
  }

  /** Turns a limiter result into the decision: attaches `req.rateLimit`, builds headers, records the metric. */
  #decide(
    req: Req,
    policy: CompiledPolicy<Req>,
    limits: readonly CompiledLimit<Req>[],
    policyHeader: string,
    applied: readonly AppliedLimit[],
    result: Reservation<AnyLimit>,
  ): Decision {
    const o = this.options;
    const block = !result.allowed && !o.shadow;
    const info = { policy: policy.name, allowed: result.allowed, shadow: o.shadow, limits: applied, result } as unknown as RateLimitInfo;
    // Not enumerable: req.rateLimit reads and compares as plain data.
    Object.defineProperty(info, 'settle', { value: (actual: number | readonly number[]) => result.settle(actual), enumerable: false });
    (req as Record<string, unknown>)[INFO_PROPERTY] = info;
    const headers = buildHeaders(limits, policyHeader, result, this.#headerChoice, block);
    o.hooks.onRequest(result.allowed ? 'allowed' : o.shadow ? 'shadow_denied' : 'denied', policy.name);
    return { info, headers, block, limits: limits as readonly CompiledLimit<unknown>[], release: releaseOf(result, limits) };
  }
}

/**
 * The release of the leases a result took: present when the check passed
 * with a concurrency limit. A release that fails leaves the lease to expire
 * on its own (its ttl): it is never an error of the request.
 */
function releaseOf<Req>(result: Reservation<AnyLimit>, limits: readonly CompiledLimit<Req>[]): (() => void) | undefined {
  if (!result.allowed || !limits.some((l) => l.concurrency)) return undefined;
  const compound = result as Partial<CompoundResult<AnyLimit>>;
  if (typeof compound.release !== 'function') return undefined;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    (compound.release as () => Promise<void>)().then(undefined, () => undefined);
  };
}

/** The units a limit takes: one lease for a concurrency limit (whatever the cost), else its cost, calling `call` for a cost function. */
function costOf<Req>(limit: CompiledLimit<Req>, call: (fn: (r: Req) => unknown) => unknown): unknown {
  if (limit.concurrency) return 1;
  return typeof limit.cost === 'number' ? limit.cost : call(limit.cost);
}

/** A key that means "this limit does not apply": undefined, null or the empty string. */
function absent(key: unknown): boolean {
  return key === undefined || key === null || key === '';
}
