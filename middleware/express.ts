/**
 * `tollgate/express`: the rate-limit middleware for Express 5 (and 4).
 * A thin adapter over the shared core: it sets the headers, attaches
 * `req.rateLimit`, answers 429 with problem+json (or calls `handler`), and
 * hands errors to Express with `next(err)`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RateLimitCore } from './core.js';
import { normalizeOptions } from './options.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import type { RateLimitInfo, RateLimitOptions } from './types.js';

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

/**
 * Creates an Express middleware that limits requests per the options.
 * Throws a LimiterError (ERR_INVALID_OPTION / ERR_INVALID_LIMIT) at once on invalid options.
 */
export function rateLimit(options: ExpressRateLimitOptions): RequestHandler {
  const core = new RateLimitCore<Request, Response>(normalizeOptions('rateLimit', options));
  const { handler } = core.options;
  return function tollgateRateLimit(req: Request, res: Response, next: NextFunction): void {
    core.check(req).then((decision) => {
      if (decision === undefined) return next();
      try {
        for (const [name, value] of decision.headers) res.setHeader(name, value);
      } catch (error) {
        return next(error);
      }
      if (!decision.block) return next();
      if (handler !== undefined) {
        Promise.resolve()
          .then(() => handler(req, res, decision.info))
          .catch(next);
        return;
      }
      res.statusCode = 429;
      res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
      res.end(JSON.stringify(core.problem(decision)));
    }, next);
  };
}

export { ipKey, headerKey } from './keys.js';
export type { IpKeyOptions, HeaderKeyOptions, KeyedRequest } from './keys.js';
export type * from './types.js';
export type { RateLimitProblem, ViolatedPolicy } from './problem.js';
