/**
 * What a client sees when the limiter could not decide: a store failure
 * (Redis unreachable, past its deadline, an error reply) is answered with
 * 503 and a problem+json body whose detail is generic (no addresses, no
 * stack), plus `Retry-After` when the failure policy knows one. Every other
 * error (a throwing user function, an invalid cost) goes to the framework's
 * error path as the typed LimiterError.
 */
import { LimiterError } from '../src/errors.js';
import { isStoreFailure } from '../src/failure.js';
import { seconds } from './headers.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

/** The response to a store failure. */
export interface FailureResponse {
  /** 503. */
  readonly status: number;
  /** Headers to set (content type, and Retry-After when known). */
  readonly headers: readonly [name: string, value: string][];
  /** The serialized problem body. */
  readonly body: string;
}

/** The generic 503 problem body. */
const BODY = JSON.stringify({
  type: 'about:blank',
  title: 'Service Unavailable',
  status: 503,
  detail: 'The rate limiter could not check this request right now; try again later.',
});

/** The 503 answer for a store failure, or undefined for an error the framework must handle. */
export function failureResponse(error: unknown): FailureResponse | undefined {
  if (!(error instanceof LimiterError) || !isStoreFailure(error)) return undefined;
  const headers: [string, string][] = [['Content-Type', PROBLEM_CONTENT_TYPE]];
  const retry = error.retryAfter;
  if (retry !== undefined && Number.isFinite(retry) && retry >= 0) headers.push(['Retry-After', String(Math.max(1, seconds(retry)))]);
  return { status: 503, headers, body: BODY };
}
