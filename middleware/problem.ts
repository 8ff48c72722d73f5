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
  /** Its burst, or a quota's amount (`q`); for a concurrency limit, its most requests at once. */
  readonly quota: number;
  /** Seconds to refill the whole burst, or the length of a quota's current window (`w`); for a concurrency limit, its lease ttl in seconds. */
  readonly window: number;
  /** Seconds until a retry could pass, rounded up; null when the request can never pass, or for a concurrency limit (a slot frees when a request in progress ends). */
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
  /** Seconds until a retry could pass (null: never, or only concurrency limits denied: no known time). */
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
  let described = false; // a rate limit or quota denied (not only concurrency limits)
  let wait = 0;
  limits.forEach((l, i) => {
    const item = items[i] ?? info.result;
    if (item.allowed && items.length > 1) return;
    // A concurrency slot frees when a request in progress ends: no known time (null).
    const retryAfter = l.concurrency || item.retryAfter === Infinity ? null : seconds(item.retryAfter);
    violated.push({ name: l.name, quota: l.quota, window: l.calendar === undefined ? l.window : windowNow(l.calendar), retryAfter });
    if (!l.concurrency) {
      described = true;
      if (item.retryAfter > wait) wait = item.retryAfter;
    }
  });
  const retry = !described || wait === Infinity ? null : seconds(wait);
  const names = violated.map((v) => JSON.stringify(v.name)).join(', ');
  const detail = !described
    ? `Concurrency limit ${names} reached: too many requests in progress; retry when one has finished.`
    : retry === null
      ? `This request exceeds rate limit ${names} and can never be allowed.`
      : `Rate limit ${names} exceeded; retry in ${retry} second${retry === 1 ? '' : 's'}.`;
  const problem: RateLimitProblem = { type, title: 'Too Many Requests', status: 429, detail, retryAfter: retry, violatedPolicies: violated };
  return type === QUOTA_EXCEEDED_TYPE ? { ...problem, 'violated-policies': violated.map((v) => v.name) } : problem;
}
