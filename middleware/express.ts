/**
 * `tollgate/express`: the rate-limit middleware for Express 5 (and 4).
 * A thin adapter over the shared core: it sets (or appends to) the headers,
 * attaches `req.rateLimit`, answers 429 with problem+json (or calls
 * `handler`), answers a store failure with 503, and hands every other error
 * to Express with `next(err)` as a typed LimiterError. The leases of
 * concurrency limits are given back on the response's `finish` or `close`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { callbackError, isThenable } from './callbacks.js';
import { RateLimitCore } from './core.js';
import { failureResponse } from './failure-response.js';
import { type HeaderList, mergedValue } from './headers.js';
import { normalizeOptions } from './options.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import type { RateLimitInfo, RateLimitOptions, TollgateWarning } from './types.js';
import { permissiveTrustProxy, usesClientIp } from './warnings.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by tollgate's `rateLimit()` once it has checked the request. */
      rateLimit?: RateLimitInfo;
    }
  }
}

/** Options of the Express middleware. */
export type ExpressRateLimitOptions = RateLimitOptions<Request, Response>;

function setHeaders(res: Response, headers: HeaderList): void {
  for (const entry of headers) res.setHeader(entry[0], mergedValue(entry, res.getHeader(entry[0])));
}

function defaultWarning(warning: TollgateWarning): void {
  process.emitWarning(warning.message, { type: 'TollgateWarning', code: warning.code });
}

/**
 * Creates an Express middleware that limits requests per the options.
 * Throws a LimiterError (ERR_INVALID_OPTION / ERR_INVALID_LIMIT) at once on invalid options.
 */
export function rateLimit(options: ExpressRateLimitOptions): RequestHandler {
  const core = new RateLimitCore<Request, Response>(normalizeOptions('rateLimit', options));
  const { handler } = core.options;
  const warn = core.options.onWarning ?? defaultWarning;
  let trustChecked = !usesClientIp(core.options);
  const fail = (res: Response, next: NextFunction) => (error: unknown) => {
    const answer = failureResponse(error);
    if (answer === undefined || res.headersSent) return next(error);
    res.statusCode = answer.status;
    for (const [name, value] of answer.headers) res.setHeader(name, value);
    res.end(answer.body);
  };
  return function tollgateRateLimit(req: Request, res: Response, next: NextFunction): void {
    if (!trustChecked) {
      trustChecked = true;
      // `app.set('trust proxy', true)` trusts every hop: any client picks its bucket with X-Forwarded-For.
      if (req.app?.get('trust proxy') === true) warn(permissiveTrustProxy("app.set('trust proxy', true)", "a hop count such as app.set('trust proxy', 1) or the proxies' addresses"));
    }
    core.check(req).then((decision) => {
      if (decision === undefined) return next();
      const { release } = decision;
      if (release !== undefined) {
        // Leases of concurrency limits: given back once the response is sent or the client goes away
        // ('close' follows 'finish', and comes alone on an abort), whatever the handler did.
        res.once('finish', release);
        res.once('close', release);
      }
      try {
        setHeaders(res, decision.headers);
      } catch (error) {
        return next(error);
      }
      if (!decision.block) return next();
      if (handler !== undefined) {
        let handled: unknown;
        try {
          handled = handler(req, res, decision.info);
        } catch (error) {
          return next(callbackError('handler', error));
        }
        if (isThenable(handled)) handled.then(undefined, (error: unknown) => next(callbackError('handler', error)));
        return;
      }
      res.statusCode = 429;
      res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
      res.end(JSON.stringify(core.problem(decision)));
    }, fail(res, next));
  };
}

export { ipKey, headerKey } from './keys.js';
export type { IpKeyOptions, HeaderKeyOptions, KeyedRequest } from './keys.js';
export type * from './types.js';
export type { RateLimitProblem, ViolatedPolicy } from './problem.js';
export { QUOTA_EXCEEDED_TYPE } from './problem.js';
