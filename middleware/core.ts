/**
 * The framework-neutral rate-limit engine behind the Express middleware and
 * the Fastify plugin: guards against counting a request twice, applies
 * skip/allowList, resolves the policy (cached), builds namespaced keys,
 * asks the Limiter (all-or-nothing for several limits), and turns the
 * result into headers, `req.rateLimit`, a block/pass decision and metrics.
 */
import { LimiterError } from '../src/errors.js';
import { isStoreFailure } from '../src/failure.js';
import type { LimitResult } from '../src/result.js';
import { type HeaderChoice, type HeaderList, buildHeaders, policyHeaderFor } from './headers.js';
import { inRanges } from './ip.js';
import { buildKey } from './namespace.js';
import type { NormalizedOptions } from './options.js';
import { type CompiledLimit, type CompiledPolicy, compilePolicy } from './policy.js';
import { PolicyCache } from './policy-cache.js';
import { type RateLimitProblem, problemFor } from './problem.js';
import type { AppliedLimit, PolicyDefinition, RateLimitInfo } from './types.js';

/** What the adapter must do with a checked request. */
export interface Decision {
  /** Attach as `req.rateLimit`. */
  readonly info: RateLimitInfo;
  /** Headers to set on the response. */
  readonly headers: HeaderList;
  /** True when the request must be answered with 429 (denied and not in shadow mode). */
  readonly block: boolean;
  /** The limits applied (for the problem body). */
  readonly limits: readonly CompiledLimit<unknown>[];
}

/** Property under which the outcome is attached to the request. */
export const INFO_PROPERTY = 'rateLimit';

/** The answer for requests the middleware leaves alone. */
const PASS: Promise<undefined> = Promise.resolve(undefined);

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}

/** The per-middleware engine; adapters create one per configured middleware (or route). */
export class RateLimitCore<Req extends object, Res> {
  /** Validated options. */
  readonly options: NormalizedOptions<Req, Res>;
  readonly #guard: symbol;
  readonly #cache: PolicyCache<CompiledPolicy<Req> | null> | undefined;
  readonly #resolverField: string;
  readonly #headerChoice: HeaderChoice;

  /** @param options - already validated options */
  constructor(options: NormalizedOptions<Req, Res>) {
    this.options = options;
    // Per name, so every middleware sharing a name (and so its buckets) counts a request once.
    this.#guard = Symbol.for(`tollgate.rateLimit:${options.namespace}`);
    this.#cache = options.resolver && options.policyKey ? new PolicyCache(options.policyTtl, options.policyCacheSize) : undefined;
    this.#resolverField = 'policy(req) result';
    this.#headerChoice = { standard: options.standardHeaders, legacy: options.legacyHeaders };
  }

  /**
   * Checks a request. Resolves undefined when the request passes untouched
   * (already counted by this limiter, skipped, allow-listed, no policy, or a
   * store error under `failOpen`); rejects with the error to pass to the framework.
   */
  check(req: Req): Promise<Decision | undefined> {
    const flags = req as Record<symbol, unknown>;
    if (flags[this.#guard] === true) return PASS;
    flags[this.#guard] = true;
    const o = this.options;
    const policy = o.staticPolicy;
    // Fast path: a static single-limit policy with synchronous key and cost, no skip rules.
    if (policy !== undefined && policy.limits.length === 1 && o.skip === undefined && o.allowList.length === 0) {
      try {
        const l = policy.limits[0] as CompiledLimit<Req>;
        const key = l.key(req);
        const cost = typeof l.cost === 'number' ? l.cost : l.cost(req);
        if (!isThenable(key) && !isThenable(cost)) {
          if (key === undefined || key === null || key === '') {
            o.hooks.onRequest('skipped', policy.name);
            return PASS;
          }
          const applied: AppliedLimit = { name: l.name, key: buildKey(l.shape, String(key)), limit: l.limit, cost };
          return o.limiter.allow(applied.key, applied.limit, { cost }).then(
            (result) => this.#decide(req, policy, policy.limits, policy.policyHeader, [applied], result),
            (error: unknown) => this.#fail(error, policy.name),
          );
        }
      } catch (error) {
        return Promise.resolve().then(() => this.#fail(error, policy.name));
      }
    }
    return this.#checkSlow(req);
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
      return await this.#apply(req, policy);
    } catch (error) {
      return this.#fail(error, policyName);
    }
  }

  /** Records an error; swallows a store failure under `failOpen`, rethrows anything else. */
  #fail(error: unknown, policyName: string): undefined {
    const o = this.options;
    o.hooks.onRequest('error', policyName);
    if (o.failOpen && error instanceof LimiterError && isStoreFailure(error)) return undefined;
    throw error;
  }

  /** The default 429 body for a decision. */
  problem(decision: Decision): RateLimitProblem {
    return problemFor(this.options.problemType, decision.limits, decision.info);
  }

  async #skipped(req: Req): Promise<boolean> {
    const o = this.options;
    if (o.allowList.length > 0) {
      const ip = (req as { ip?: unknown }).ip;
      if (typeof ip === 'string' && inRanges(ip, o.allowList)) return true;
    }
    if (o.skip === undefined) return false;
    const skip = o.skip(req);
    return isThenable(skip) ? (await skip) === true : skip === true;
  }

  #resolve(req: Req): CompiledPolicy<Req> | null | Promise<CompiledPolicy<Req> | null> {
    const o = this.options;
    const resolver = o.resolver as NonNullable<typeof o.resolver>;
    const load = (): CompiledPolicy<Req> | null | Promise<CompiledPolicy<Req> | null> => {
      const defined = resolver(req);
      return isThenable(defined) ? defined.then((d) => this.#compile(d)) : this.#compile(defined);
    };
    const cacheKey = this.#cache ? o.policyKey?.(req) : undefined;
    if (this.#cache === undefined || cacheKey === undefined || cacheKey === null) return load();
    return this.#cache.get(String(cacheKey), load);
  }

  #compile(definition: PolicyDefinition<Req> | undefined | null): CompiledPolicy<Req> | null {
    if (definition === undefined || definition === null) return null;
    const o = this.options;
    return compilePolicy(definition, { name: o.name, namespace: o.namespace, key: o.key, cost: o.cost }, this.#resolverField);
  }

  async #apply(req: Req, policy: CompiledPolicy<Req>): Promise<Decision | undefined> {
    const o = this.options;
    const applied: AppliedLimit[] = [];
    let used: CompiledLimit<Req>[] | undefined;
    for (let i = 0; i < policy.limits.length; i += 1) {
      const l = policy.limits[i] as CompiledLimit<Req>;
      const k = l.key(req);
      const key = isThenable(k) ? await k : k;
      const c = typeof l.cost === 'number' ? l.cost : l.cost(req);
      const cost = isThenable(c) ? await c : c;
      if (key === undefined || key === null || key === '') {
        used ??= policy.limits.slice(0, i);
        continue;
      }
      used?.push(l);
      applied.push({ name: l.name, key: buildKey(l.shape, String(key)), limit: l.limit, cost });
    }
    const limits = used ?? policy.limits;
    if (applied.length === 0) {
      o.hooks.onRequest('skipped', policy.name);
      return undefined;
    }
    const single = applied.length === 1 ? (applied[0] as AppliedLimit) : undefined;
    const result = single ? await o.limiter.allow(single.key, single.limit, { cost: single.cost }) : await o.limiter.allowAll(applied);
    return this.#decide(req, policy, limits, used === undefined ? policy.policyHeader : policyHeaderFor(limits), applied, result);
  }

  /** Turns a limiter result into the decision: attaches `req.rateLimit`, builds headers, records the metric. */
  #decide(
    req: Req,
    policy: CompiledPolicy<Req>,
    limits: readonly CompiledLimit<Req>[],
    policyHeader: string,
    applied: readonly AppliedLimit[],
    result: LimitResult,
  ): Decision {
    const o = this.options;
    const block = !result.allowed && !o.shadow;
    const info: RateLimitInfo = { policy: policy.name, allowed: result.allowed, shadow: o.shadow, limits: applied, result };
    (req as Record<string, unknown>)[INFO_PROPERTY] = info;
    const headers = buildHeaders(limits, policyHeader, result, this.#headerChoice, block);
    o.hooks.onRequest(result.allowed ? 'allowed' : o.shadow ? 'shadow_denied' : 'denied', policy.name);
    return { info, headers, block, limits: limits as readonly CompiledLimit<unknown>[] };
  }
}
