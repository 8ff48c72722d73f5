/**
 * Calendar quotas: what a caller asks for (`amount` units per calendar
 * `unit` in a time zone, months anchored on a billing day), the `quota()`
 * builder, and their validated form, which knows the window boundaries
 * around an instant that the stores send to, or use in, the quota script.
 */
import { CALENDAR_UNITS, type CalendarSpec, type CalendarUnit, canonicalTimeZone, windowAt } from './calendar.js';
import { ErrorCodes, LimiterError, describe } from './errors.js';

/** A calendar quota: at most `amount` units per calendar window. Build one with {@link quota}. */
export interface Quota {
  /** Marks the object as a quota (a rate limit has no `kind`). */
  readonly kind: 'quota';
  /** Units per window: an integer >= 1. */
  readonly amount: number;
  /** The calendar unit of a window: `month`, `week` (ISO, from Monday), `day` or `hour`. */
  readonly unit: CalendarUnit;
  /** IANA time zone the windows follow. Default `"UTC"`. */
  readonly timeZone?: string;
  /** `month` only: the day of the month windows start on (1..31; clamped to short months). Default 1. */
  readonly anchorDay?: number;
  /** Optional name, used by headers and metrics (e.g. `"tenant-month"`). */
  readonly name?: string;
}

/** Options of {@link quota}. */
export interface QuotaOptions {
  /** IANA time zone the windows follow, e.g. `"Europe/Berlin"`. Default `"UTC"`. */
  readonly timeZone?: string;
  /** `month` only: the day of the month windows start on, 00:00 local time (1..31; 31 means the last day of shorter months). Default 1. */
  readonly anchorDay?: number;
  /** Optional name, used by headers and metrics. */
  readonly name?: string;
}

/** The window boundaries around an instant, in integer µs since the epoch. */
export interface QuotaBoundaries {
  /** Start of the window before the current one. */
  readonly previous: number;
  /** Start of the current window. */
  readonly start: number;
  /** End of the current window (start of the next). */
  readonly end: number;
  /** End of the next window. */
  readonly next: number;
}

/** A validated quota, with its window computation. */
export interface ResolvedQuota {
  /** The quota as given. */
  readonly quota: Quota;
  /** Units per window. */
  readonly amount: number;
  /** The calendar the windows follow (canonical zone name, anchor defaulted). */
  readonly spec: CalendarSpec;
  /**
   * The boundaries of the windows before, at and after instant `nowUs` (µs),
   * so that whichever of the three a store's clock falls in can be picked.
   */
  boundaries(nowUs: number): QuotaBoundaries;
}

const resolved = new WeakMap<Quota, ResolvedQuota>();

function invalid(field: string, value: unknown, allowed: string): LimiterError {
  return new LimiterError(ErrorCodes.INVALID_LIMIT, `quota.${field} must be ${allowed}, got ${describe(value)}`);
}

/** True when `value` is a quota object (as opposed to a rate limit). */
export function isQuota(value: unknown): value is Quota {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'quota';
}

/** Builds the boundary lookup of a calendar, caching the windows of the last instant asked about. */
function boundaryCache(spec: CalendarSpec): (nowUs: number) => QuotaBoundaries {
  let last: QuotaBoundaries | undefined;
  return (nowUs) => {
    if (last !== undefined && nowUs >= last.start && nowUs < last.end) return last;
    const ms = Math.floor(nowUs / 1000);
    const current = windowAt(spec, ms);
    const before = windowAt(spec, current.start - 1);
    const after = windowAt(spec, current.end);
    last = { previous: before.start * 1000, start: current.start * 1000, end: current.end * 1000, next: after.end * 1000 };
    return last;
  };
}

/**
 * Validates a quota and prepares its window computation. Throws a
 * {@link LimiterError} with code `ERR_INVALID_LIMIT` naming the field, the
 * value and what is allowed. Results are cached per quota object.
 */
export function resolveQuota(q: Quota): ResolvedQuota {
  const cached = resolved.get(q);
  if (cached) return cached;
  const { amount, unit, timeZone = 'UTC', anchorDay, name } = q;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 1) throw invalid('amount', amount, 'an integer >= 1');
  if (typeof unit !== 'string' || !(CALENDAR_UNITS as readonly string[]).includes(unit)) {
    throw invalid('unit', unit, `one of ${CALENDAR_UNITS.map((u) => JSON.stringify(u)).join(', ')}`);
  }
  const zone = typeof timeZone === 'string' && timeZone.length > 0 ? canonicalTimeZone(timeZone) : undefined;
  if (zone === undefined) throw invalid('timeZone', timeZone, 'an IANA time zone name such as "Europe/Berlin" or "UTC"');
  if (anchorDay !== undefined) {
    if (unit !== 'month') throw invalid('anchorDay', anchorDay, `given only for "month" quotas (this one is "${unit}")`);
    if (typeof anchorDay !== 'number' || !Number.isInteger(anchorDay) || anchorDay < 1 || anchorDay > 31) {
      throw invalid('anchorDay', anchorDay, 'an integer day of the month in [1, 31]');
    }
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) throw invalid('name', name, 'a non-empty string when given');
  const spec: CalendarSpec = { unit, timeZone: zone, anchorDay: anchorDay ?? 1 };
  const result: ResolvedQuota = { quota: q, amount, spec, boundaries: boundaryCache(spec) };
  resolved.set(q, result);
  return result;
}

/**
 * A calendar quota of `amount` units per `unit` (`'month'`, `'week'` (ISO,
 * Monday 00:00), `'day'` or `'hour'`) in `options.timeZone` (default UTC).
 * Month windows start on `options.anchorDay` (default 1) at 00:00 local time;
 * an anchor past a month's end means its last day (31 -> Feb 28/29, Apr 30).
 * Throws ERR_INVALID_LIMIT on an invalid argument.
 */
export function quota(amount: number, unit: CalendarUnit, options?: QuotaOptions): Quota {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new LimiterError(ErrorCodes.INVALID_LIMIT, `quota options must be an object { timeZone?, anchorDay?, name? }, got ${describe(options)}`);
  }
  const o = options ?? {};
  for (const key of Object.keys(o)) {
    if (key !== 'timeZone' && key !== 'anchorDay' && key !== 'name') {
      throw new LimiterError(ErrorCodes.INVALID_LIMIT, `quota option ${JSON.stringify(key)} is unknown; allowed: "timeZone", "anchorDay", "name"`);
    }
  }
  const q: Quota = {
    kind: 'quota',
    amount,
    unit,
    timeZone: o.timeZone ?? 'UTC',
    ...(o.anchorDay !== undefined || unit === 'month' ? { anchorDay: o.anchorDay ?? 1 } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
  };
  resolveQuota(q);
  return Object.freeze(q);
}

/**
 * The store key of a quota's count for `key`: the key with a suffix naming
 * the unit, so a rate limit and quotas of each unit on one key keep separate
 * state (a `{hash tag}` in the key keeps them in one Redis Cluster slot).
 */
export function quotaKey(key: string, unit: CalendarUnit): string {
  return `${key}|quota:${unit}`;
}

/** Every store key that may hold state for `key`: its own and one per quota unit (what a reset deletes). */
export function keysOf(key: string): string[] {
  return [key, ...CALENDAR_UNITS.map((unit) => quotaKey(key, unit))];
}

/** Throws ERR_INVALID_COST unless `cost` is an integer >= min and below 2^53; returns it. */
export function checkQuotaCost(cost: unknown, field: string, min = 0): number {
  if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < min) {
    throw new LimiterError(ErrorCodes.INVALID_COST, `${field} must be an integer >= ${min}, got ${describe(cost)}`);
  }
  return cost;
}
