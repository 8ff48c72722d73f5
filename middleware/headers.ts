/**
 * Response headers for a checked request (SPEC section 11): the standard
 * `RateLimit-Policy` and `RateLimit` fields of
 * draft-ietf-httpapi-ratelimit-headers-10 (one list item per limit), the
 * optional legacy `X-RateLimit-*` fields, and `Retry-After` on denial.
 */
import type { ItemResult, LimitResult } from '../src/result.js';
import type { CompiledLimit } from './policy.js';
import { clampInteger, serializeString } from './structured-fields.js';

/** Header name/value pairs, in the order they are set. */
export type HeaderList = [name: string, value: string][];

/** Which header families to send. */
export interface HeaderChoice {
  /** `RateLimit-Policy` and `RateLimit`. */
  readonly standard: boolean;
  /** `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`. */
  readonly legacy: boolean;
}

/** ms to whole seconds, rounded up (a client must never be told to come back early). */
export function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/** The per-limit results of a check, aligned with the limits applied. */
export function itemResults(result: LimitResult): readonly (ItemResult | LimitResult)[] {
  return result.items ?? [result];
}

/** The `RateLimit-Policy` value for a subset of a policy's limits. */
export function policyHeaderFor<Req>(limits: readonly CompiledLimit<Req>[]): string {
  return limits.map((l) => `${serializeString(l.name)};q=${l.quota};w=${l.window}`).join(', ');
}

/**
 * Builds the rate-limit headers. `policyHeader` is the precomputed
 * `RateLimit-Policy` value for exactly `limits`; `retry` adds `Retry-After`
 * (omitted when the request can never pass).
 */
export function buildHeaders<Req>(
  limits: readonly CompiledLimit<Req>[],
  policyHeader: string,
  result: LimitResult,
  choice: HeaderChoice,
  retry: boolean,
): HeaderList {
  const headers: HeaderList = [];
  if (choice.standard) {
    const items = itemResults(result);
    let state = '';
    for (let i = 0; i < limits.length; i += 1) {
      const item = items[i] ?? result;
      if (i > 0) state += ', ';
      state += `${(limits[i] as CompiledLimit<Req>).stateStart}${clampInteger(item.remaining)};t=${clampInteger(seconds(item.resetAfter))}`;
    }
    headers.push(['RateLimit-Policy', policyHeader], ['RateLimit', state]);
  }
  if (choice.legacy) {
    let head = limits[0] as CompiledLimit<Req>;
    for (const l of limits) if (l.limit === result.limit) head = l;
    headers.push(
      ['X-RateLimit-Limit', String(head.quota)],
      ['X-RateLimit-Remaining', String(clampInteger(result.remaining))],
      ['X-RateLimit-Reset', String(clampInteger(seconds(result.resetAfter)))],
    );
  }
  if (retry && result.retryAfter !== Infinity) headers.push(['Retry-After', String(seconds(result.retryAfter))]);
  return headers;
}
