/**
 * The default body of a 429 response: an RFC 9457 problem details object
 * (`application/problem+json`) naming the violated limits and when to retry.
 */
import { type CompiledLimit, windowNow } from './policy.js';
import { itemResults, seconds } from './headers.js';
import type { RateLimitInfo } from './types.js';

/** Media type of the default 429 body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The problem type of draft-ietf-httpapi-ratelimit-headers for a request over quota; its body lists `violated-policies`. */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded';

/** One violated limit in the problem body. */
export interface ViolatedPolicy {
  /** The limit's name (as in the headers). */
  readonly name: string;
  /** Its burst, or a quota's amount (`q`). */
  readonly quota: number;
  /** Seconds to refill the whole burst, or the length of a quota's current window (`w`). */
  readonly window: number;
  /** Seconds until a retry could pass, rounded up; null when the request can never pass. */
  readonly retryAfter: number | null;
}

/** The default problem details body. */
export interface RateLimitProblem {
  /** Problem type URI. */
  readonly type: string;
  /** Short summary. */
  readonly title: string;
  /** 429. */
  readonly status: number;
  /** Human-readable explanation. */
  readonly detail: string;
  /** Seconds until a retry could pass (null: never). */
  readonly retryAfter: number | null;
  /** The limits that denied the request. */
  readonly violatedPolicies: readonly ViolatedPolicy[];
  /** With the quota-exceeded problem type only: the names of the violated policies, as that type defines. */
  readonly 'violated-policies'?: readonly string[];
}

/** Builds the problem details for a denied request. */
export function problemFor<Req>(type: string, limits: readonly CompiledLimit<Req>[], info: RateLimitInfo): RateLimitProblem {
  const items = itemResults(info.result);
  const violated: ViolatedPolicy[] = [];
  limits.forEach((l, i) => {
    const item = items[i] ?? info.result;
    if (item.allowed && items.length > 1) return;
    violated.push({ name: l.name, quota: l.quota, window: l.calendar === undefined ? l.window : windowNow(l.calendar), retryAfter: item.retryAfter === Infinity ? null : seconds(item.retryAfter) });
  });
  const retry = info.result.retryAfter === Infinity ? null : seconds(info.result.retryAfter);
  const names = violated.map((v) => JSON.stringify(v.name)).join(', ');
  const detail =
    retry === null
      ? `This request exceeds rate limit ${names} and can never be allowed.`
      : `Rate limit ${names} exceeded; retry in ${retry} second${retry === 1 ? '' : 's'}.`;
  const problem: RateLimitProblem = { type, title: 'Too Many Requests', status: 429, detail, retryAfter: retry, violatedPolicies: violated };
  return type === QUOTA_EXCEEDED_TYPE ? { ...problem, 'violated-policies': violated.map((v) => v.name) } : problem;
}
