/**
 * `tollgate/fastify`: the rate-limit plugin for Fastify 5, wrapped with
 * fastify-plugin so it applies app-wide. Register it once, before the routes:
 * every route is limited by the plugin options (unless `global: false`), a
 * route's `config.rateLimit` object replaces them for that route (with its
 * own buckets), and `config.rateLimit: false` exempts it; requests matching
 * no route are limited by the plugin options too (unless `notFound: false`).
 * The check runs in the `onRequest` hook unless `hook` names a later one.
 * The leases of concurrency limits are given back in `onResponse` (which
 * follows error responses too) or `onRequestAbort`.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorCodes, LimiterError, describe } from '../src/errors.js';
import { Limiter } from '../src/limiter.js';
import { enumOption, objectOption } from '../src/options.js';
import type { Store } from '../src/store.js';
import { callbackError, isThenable } from './callbacks.js';
import { RateLimitCore } from './core.js';
import { failureResponse } from './failure-response.js';
import { type HeaderList, mergedValue } from './headers.js';
import { normalizeOptions } from './options.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import { isSfStringSafe } from './structured-fields.js';
import type { RateLimitInfo, RateLimitOptions, TollgateWarning, WarningHandler } from './types.js';
import { permissiveTrustProxy, usesClientIp } from './warnings.js';

/** Hooks the check can run in. */
export type RateLimitHook = 'onRequest' | 'preParsing' | 'preValidation' | 'preHandler';

/** Options of the plugin: the shared options plus where and whether it applies. */
export interface FastifyRateLimitOptions extends RateLimitOptions<FastifyRequest, FastifyReply> {
  /** The hook the check runs in. Default `"onRequest"`. */
  readonly hook?: RateLimitHook;
  /** Limit every route (true) or only routes with a `config.rateLimit` object (false). Default true. */
  readonly global?: boolean;
  /**
   * Also limit requests that match no route (the not-found handler) with the
   * plugin's policy, as scanning random URLs is what limits are for. Default
   * true when `global`; false leaves 404s unlimited.
   */
  readonly notFound?: boolean;
}

/** A route's `config.rateLimit`: options that replace the plugin's for this route. */
export type FastifyRouteRateLimitOptions = Omit<RateLimitOptions<FastifyRequest, FastifyReply>, 'store'> & {
  /** A store for this route only (a new Limiter over it). */
  readonly store?: Store;
};

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the tollgate plugin once it has checked the request. */
    rateLimit?: RateLimitInfo | null;
  }
  interface FastifyContextConfig {
    /** Per-route rate-limit options, or `false` to exempt the route. */
    rateLimit?: FastifyRouteRateLimitOptions | false;
  }
}

const OWNER = 'tollgate fastify plugin';
const HOOKS: readonly RateLimitHook[] = ['onRequest', 'preParsing', 'preValidation', 'preHandler'];
const POLICY_OPTIONS = ['limit', 'limits', 'policy'] as const;

type Core = RateLimitCore<FastifyRequest, FastifyReply>;
type Done = (error?: Error) => void;

function setHeaders(reply: FastifyReply, headers: HeaderList): void {
  for (const entry of headers) reply.header(entry[0], mergedValue(entry, reply.getHeader(entry[0])));
}

/** Where a request keeps the releases of the leases its limiters took (given back in onResponse / onRequestAbort). */
const RELEASES = Symbol('tollgate.releases');

/** Gives back every lease `request` holds (each release runs once). */
function releaseLeases(request: FastifyRequest): void {
  const releases = (request as unknown as Record<symbol, (() => void)[] | undefined>)[RELEASES];
  if (releases !== undefined) for (const release of releases.splice(0)) release();
}

function run(core: Core, request: FastifyRequest, reply: FastifyReply, done: Done): void {
  core.check(request).then(
    (decision) => {
      if (decision === undefined) return done();
      if (decision.release !== undefined) {
        const r = request as unknown as Record<symbol, (() => void)[] | undefined>;
        (r[RELEASES] ??= []).push(decision.release);
      }
      setHeaders(reply, decision.headers);
      if (!decision.block) return done();
      const { handler } = core.options;
      if (handler !== undefined) {
        let handled: unknown;
        try {
          handled = handler(request, reply, decision.info);
        } catch (error) {
          return done(callbackError('handler', error));
        }
        if (isThenable(handled)) handled.then(undefined, (error: unknown) => reply.send(callbackError('handler', error)));
        return;
      }
      reply.code(429).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(core.problem(decision)));
    },
    (error: Error) => {
      const answer = failureResponse(error);
      if (answer === undefined || reply.sent) return done(error);
      reply.code(answer.status);
      for (const [name, value] of answer.headers) reply.header(name, value);
      reply.send(answer.body);
    },
  );
}

function hookFor(core: Core, hook: RateLimitHook, only404 = false): unknown {
  if (hook === 'preParsing') {
    return (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void) => {
      if (only404 && !request.is404) return done(null, payload);
      run(core, request, reply, (error) => (error ? done(error) : done(null, payload)));
    };
  }
  return (request: FastifyRequest, reply: FastifyReply, done: Done) => {
    if (only404 && !request.is404) return done();
    run(core, request, reply, done);
  };
}

const OURS = Symbol('tollgate.hook');

function markOurs(fn: unknown): unknown {
  (fn as Record<symbol, unknown>)[OURS] = true;
  return fn;
}

function isOurHook(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[OURS] === true;
}

/** Default name of a route with its own config: distinct per route, so its buckets are its own. */
function routeName(base: string, route: RouteOptions): string {
  // HEAD shares GET's buckets (Fastify adds a HEAD route per GET route), so HEAD is no way around a GET limit.
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => (String(m) === 'HEAD' ? 'GET' : String(m)));
  const method = [...new Set(methods)].join(',');
  const name = `${base}@${method} ${route.url}`;
  if (name.length <= 128 && isSfStringSafe(name)) return name;
  return `${base}@${createHash('sha256').update(`${method} ${route.url}`).digest('base64url').slice(0, 22)}`;
}

/** True when the server was created with `trustProxy: true` (read from Fastify's options; false when they can't be read). */
function trustsEveryProxy(fastify: FastifyInstance): boolean {
  let symbol: symbol | undefined;
  for (let o: object | null = fastify; o !== null && symbol === undefined; o = Object.getPrototypeOf(o) as object | null) {
    symbol = Object.getOwnPropertySymbols(o).find((s) => s.description === 'fastify.options');
  }
  const options = symbol === undefined ? undefined : (fastify as unknown as Record<symbol, { trustProxy?: unknown } | undefined>)[symbol];
  return options?.trustProxy === true;
}

function limiterOf(o: Record<string, unknown>): Limiter {
  if (o.limiter !== undefined) return o.limiter as Limiter;
  return new Limiter(o.store === undefined ? undefined : { store: o.store as Store });
}

const plugin: FastifyPluginCallback<FastifyRateLimitOptions> = (fastify, options, done) => {
  try {
    setup(fastify, options);
  } catch (error) {
    return done(error as Error);
  }
  done();
};

function setup(fastify: FastifyInstance, options: FastifyRateLimitOptions): void {
  const o = { ...objectOption(OWNER, options) };
  const hook = enumOption(OWNER, 'hook', o.hook, 'onRequest', HOOKS);
  if (o.global !== undefined && typeof o.global !== 'boolean') {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${OWNER} option "global" must be a boolean, got ${describe(o.global)}`);
  }
  const global = o.global !== false;
  if (o.notFound !== undefined && typeof o.notFound !== 'boolean') {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${OWNER} option "notFound" must be a boolean, got ${describe(o.notFound)}`);
  }
  const notFound = global && o.notFound !== false;
  delete o.hook;
  delete o.global;
  delete o.notFound;
  // Without an onError of the user's, a failed check is logged through the request's logger (the body stays generic).
  if (o.onError === undefined) o.onError = (error: LimiterError, request: FastifyRequest) => request.log.error({ err: error }, 'tollgate: rate-limit check failed');
  const warn = (o.onWarning as WarningHandler | undefined) ?? ((w: TollgateWarning) => fastify.log.warn({ code: w.code }, w.message));
  const hasPolicy = POLICY_OPTIONS.some((k) => o[k] !== undefined);
  // Validate everything now (with a placeholder policy when routes bring their own); every route shares the limiter.
  const applies = global || hasPolicy;
  const normalized = normalizeOptions<FastifyRequest, FastifyReply>(OWNER, (applies ? o : { ...o, limit: { rate: 1, period: 1000 } }) as FastifyRateLimitOptions);
  const shared: Record<string, unknown> = { ...o, limiter: normalized.limiter };
  delete shared.store;
  const globalCore = applies ? new RateLimitCore(normalized) : undefined;
  if (globalCore !== undefined && usesClientIp(globalCore.options) && trustsEveryProxy(fastify)) {
    warn(permissiveTrustProxy('Fastify({ trustProxy: true })', "the proxies' addresses or CIDR ranges, e.g. trustProxy: ['127.0.0.1', '10.0.0.0/8']"));
  }
  if (notFound && globalCore !== undefined) fastify.addHook(hook as 'onRequest', hookFor(globalCore, hook, true) as never);

  if (!fastify.hasRequestDecorator('rateLimit')) fastify.decorateRequest('rateLimit', null);
  // Leases of concurrency limits: given back when the response is sent (errors included) or the client goes away.
  fastify.addHook('onResponse', (request, _reply, next) => {
    releaseLeases(request);
    next();
  });
  fastify.addHook('onRequestAbort', (request, next) => {
    releaseLeases(request);
    next();
  });
  fastify.addHook('onRoute', (route) => {
    const config = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit;
    if (config === false) return;
    let core: Core | undefined;
    if (config === undefined) {
      if (!global) return;
      core = globalCore;
    } else {
      const own = objectOption(`${OWNER} route config "rateLimit" of ${route.url}`, config);
      const merged: Record<string, unknown> = { ...shared };
      if (POLICY_OPTIONS.some((k) => own[k] !== undefined)) for (const k of POLICY_OPTIONS) delete merged[k];
      Object.assign(merged, own);
      if (own.store !== undefined || own.limiter !== undefined) merged.limiter = limiterOf(own);
      delete merged.store;
      const field = `${OWNER} route config "rateLimit" of ${route.url}`;
      // A route with its own config has its own buckets, unless it names a namespace itself.
      const namespace = own.name === undefined ? routeName(String(o.name ?? 'default'), route as RouteOptions) : undefined;
      core = new RateLimitCore<FastifyRequest, FastifyReply>(normalizeOptions(field, merged, [], namespace));
    }
    if (core === undefined) return;
    const r = route as unknown as Record<string, unknown>;
    const existing: unknown[] = r[hook] === undefined ? [] : Array.isArray(r[hook]) ? [...(r[hook] as unknown[])] : [r[hook]];
    // Before the route's own hooks, after the limiters of outer contexts (so limiters apply outermost first).
    let at = 0;
    while (at < existing.length && isOurHook(existing[at])) at += 1;
    existing.splice(at, 0, markOurs(hookFor(core, hook)));
    r[hook] = existing;
  });
}

/** The tollgate Fastify plugin: `await app.register(tollgate, { limit: perSecond(10) })`. */
export const tollgate = fp(plugin, { fastify: '5.x', name: 'tollgate' });
export default tollgate;

export { ipKey, headerKey } from './keys.js';
export type { IpKeyOptions, HeaderKeyOptions, KeyedRequest } from './keys.js';
export type * from './types.js';
export type { RateLimitProblem, ViolatedPolicy } from './problem.js';
export { QUOTA_EXCEEDED_TYPE } from './problem.js';
