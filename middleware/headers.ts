/**
 * Response headers for a checked request (SPEC section 11): the standard
 * rate-limit fields in the format chosen by `standardHeaders` (draft-10 by
 * default; draft-8 and draft-7 for clients written against older drafts),
 * the optional legacy `X-RateLimit-*` fields, and `Retry-After` on denial.
 * List-valued fields are appended to what an earlier limiter set on the
 * same response, so every applied policy is listed.
 */
import type { AnyLimit } from '../src/concurrency.js';
import type { ItemResult, LimitResult } from '../src/result.js';
import { type CompiledLimit, windowNow } from './policy.js';
import { clampInteger, serializeString } from './structured-fields.js';

/** The standard header formats: `draft-10` (default), `draft-8`, `draft-7`, or `false` for none. */
export type StandardHeaders = 'draft-10' | 'draft-8' | 'draft-7' | false;

/** The accepted values of `standardHeaders` (`true` means `draft-10`). */
export const STANDARD_HEADER_FORMATS: readonly Exclude<StandardHeaders, false>[] = ['draft-10', 'draft-8', 'draft-7'];

/** One header to set: name, value, and whether it is a list that joins an earlier limiter's value. */
export type HeaderEntry = [name: string, value: string, list: boolean];

/** Header entries, in the order they are set. */
export type HeaderList = HeaderEntry[];

/** Which header families to send. */
export interface HeaderChoice {
  /** Format of the standard fields, or false. */
  readonly standard: StandardHeaders;
  /** `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`. */
  readonly legacy: boolean;
}

/** ms to whole seconds, rounded up (a client must never be told to come back early). */
export function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/** The per-limit results of a check, aligned with the limits applied. */
export function itemResults(result: LimitResult<AnyLimit>): readonly (ItemResult<AnyLimit> | LimitResult<AnyLimit>)[] {
  return result.items ?? [result];
}

/**
 * Seconds until `remaining` grows by at least one unit (draft-10's `t`),
 * rounded up; 0 when the bucket is full. For GCRA the next unit returns when
 * the bucket's fill time drops to (burst - remaining - 1) emission intervals.
 * `resetAfter` is rounded up to the ms, so this errs late by under 1 ms, never early.
 */
export function secondsUntilMore(limit: CompiledLimit<unknown>, item: ItemResult<AnyLimit> | LimitResult<AnyLimit>): number {
  if (item.resetAfter <= 0 || item.remaining >= limit.quota) return 0;
  // A quota gets units back only when its window ends.
  if (limit.calendar !== undefined) return clampInteger(seconds(item.resetAfter));
  const waitUs = item.resetAfter * 1000 - (limit.quota - item.remaining - 1) * limit.interval;
  return waitUs <= 0 ? 0 : clampInteger(Math.ceil(waitUs / 1_000_000));
}

/** The `RateLimit-Policy` value for a subset of a policy's limits, in the given format (concurrency limits are not described). */
export function policyHeaderFor<Req>(limits: readonly CompiledLimit<Req>[], format: Exclude<StandardHeaders, false> = 'draft-10'): string {
  const described = limits.filter((l) => !l.concurrency);
  // A quota's `w` is its current window's length (a month of 28 to 31 days, a day of 23 to 25 hours).
  const w = (l: CompiledLimit<Req>): number => (l.calendar === undefined ? l.window : windowNow(l.calendar));
  if (format === 'draft-7') return described.map((l) => `${l.quota};w=${w(l)}`).join(', ');
  return described.map((l) => `${serializeString(l.name)};q=${l.quota};w=${w(l)}`).join(', ');
}

/** A described (rate or quota) limit of the request with its item result. */
type Described<Req> = readonly [CompiledLimit<Req>, ItemResult<AnyLimit> | LimitResult<AnyLimit>];

/** The limits the fields describe, with their results, in order (concurrency limits left out). */
function described<Req>(limits: readonly CompiledLimit<Req>[], result: LimitResult<AnyLimit>): Described<Req>[] {
  const items = itemResults(result);
  const pairs: Described<Req>[] = [];
  limits.forEach((l, i) => {
    if (!l.concurrency) pairs.push([l, items[i] ?? result]);
  });
  return pairs;
}

function standardFields<Req>(pairs: readonly Described<Req>[], policyHeader: string, format: Exclude<StandardHeaders, false>, headers: HeaderList): void {
  if (format === 'draft-7') {
    // One dictionary for the limit closest to denying (draft-7 has no per-policy state); `reset` = seconds until full.
    const [head, item] = headline(pairs);
    headers.push(['RateLimit-Policy', policyHeader, true]);
    headers.push(['RateLimit', `limit=${head.quota}, remaining=${clampInteger(item.remaining)}, reset=${clampInteger(seconds(item.resetAfter))}`, false]);
    return;
  }
  let state = '';
  for (const [limit, item] of pairs) {
    // draft-10: `t` is the time until more quota; draft-8 defined it as the time until the quota resets (full).
    const t = format === 'draft-10' ? secondsUntilMore(limit as CompiledLimit<unknown>, item) : clampInteger(seconds(item.resetAfter));
    if (state !== '') state += ', ';
    state += `${limit.stateStart}${clampInteger(item.remaining)};t=${t}`;
  }
  headers.push(['RateLimit-Policy', policyHeader, true], ['RateLimit', state, true]);
}

/** The described limit closest to denying (the least remaining; the first of equals). */
function headline<Req>(pairs: readonly Described<Req>[]): Described<Req> {
  let head = pairs[0] as Described<Req>;
  for (const pair of pairs) if (pair[1].remaining < head[1].remaining) head = pair;
  return head;
}

/**
 * Builds the rate-limit headers. `policyHeader` is the precomputed
 * `RateLimit-Policy` value for exactly `limits` in the chosen format;
 * `retry` adds `Retry-After` (omitted when the request can never pass).
 * Concurrency limits are never described: a request with only those gets
 * none of these fields, and `Retry-After` comes only from a described
 * limit that denied (a concurrency slot frees at a time nobody knows).
 */
export function buildHeaders<Req>(
  limits: readonly CompiledLimit<Req>[],
  policyHeader: string,
  result: LimitResult<AnyLimit>,
  choice: HeaderChoice,
  retry: boolean,
): HeaderList {
  const headers: HeaderList = [];
  const pairs = described(limits, result);
  if (pairs.length === 0) return headers;
  if (choice.standard !== false) standardFields(pairs, policyHeader, choice.standard, headers);
  if (choice.legacy) {
    const [head, item] = headline(pairs);
    headers.push(
      ['X-RateLimit-Limit', String(head.quota), false],
      ['X-RateLimit-Remaining', String(clampInteger(item.remaining)), false],
      ['X-RateLimit-Reset', String(clampInteger(seconds(item.resetAfter))), false],
    );
  }
  let wait = 0;
  for (const [, item] of pairs) if (!item.allowed && item.retryAfter > wait) wait = item.retryAfter;
  if (retry && wait > 0 && wait !== Infinity) headers.push(['Retry-After', String(seconds(wait)), false]);
  return headers;
}

/** The value to set for a header entry, given what an earlier limiter already set (lists are joined). */
export function mergedValue(entry: HeaderEntry, previous: unknown): string {
  if (!entry[2] || previous === undefined || previous === null || previous === '') return entry[1];
  const before = Array.isArray(previous) ? previous.join(', ') : String(previous);
  return `${before}, ${entry[1]}`;
}
