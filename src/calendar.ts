/**
 * Calendar windows in an IANA time zone: the hour, day, ISO week (from
 * Monday) or anchored month that an instant falls in, as a half-open range
 * [start, end) of epoch milliseconds. Offsets come from Intl, so daylight
 * saving is followed (a day may last 23 or 25 hours) with no dependency.
 *
 * Rules where the wall clock is not simple:
 * - A boundary whose wall time does not exist (skipped by a spring-forward)
 *   falls at the transition: the window starts at the first instant after it.
 * - A boundary whose wall time happens twice (a fall-back) falls at the later
 *   of the two, so windows never overlap and never come back.
 * - Hours are the spans between instants where the wall clock reads hh:00:00,
 *   so the repeated hour of a fall-back is two windows of one hour each; a
 *   sub-hour offset change (Lord Howe's 30 minutes) cuts an hour at the change.
 * - A month anchored on day `a` starts on day min(a, days in that month).
 */

/** The calendar units a quota can use. */
export type CalendarUnit = 'month' | 'week' | 'day' | 'hour';

/** The calendar units, in the order the API documents them. */
export const CALENDAR_UNITS: readonly CalendarUnit[] = ['month', 'week', 'day', 'hour'];

/** Which windows to compute: the unit, a canonical IANA zone and the month anchor (1..31). */
export interface CalendarSpec {
  /** The unit of the windows. */
  readonly unit: CalendarUnit;
  /** A canonical IANA time zone name, e.g. `"Europe/Berlin"`. */
  readonly timeZone: string;
  /** Day of the month a `month` window starts on (1..31, clamped to short months); 1 for other units. */
  readonly anchorDay: number;
}

/** A window [start, end) in epoch milliseconds. */
export interface CalendarWindow {
  /** First instant of the window, ms since the epoch. */
  readonly start: number;
  /** First instant after the window, ms since the epoch. */
  readonly end: number;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * The canonical name of an IANA time zone (e.g. `"utc"` -> `"UTC"`), or
 * undefined when Intl does not know it.
 */
export function canonicalTimeZone(timeZone: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/**
 * The zone's offset at instant `ms`: local wall time minus UTC, in ms
 * (e.g. 3_600_000 for Berlin in winter). Whole seconds, as time zones are.
 */
export function zoneOffset(timeZone: string, ms: number): number {
  const second = Math.floor(ms / 1000) * 1000;
  let year = 1970, month = 1, day = 1, hour = 0, minute = 0, sec = 0;
  for (const part of formatter(timeZone).formatToParts(second)) {
    switch (part.type) {
      case 'year': year = Number(part.value); break;
      case 'month': month = Number(part.value); break;
      case 'day': day = Number(part.value); break;
      case 'hour': hour = Number(part.value); break;
      case 'minute': minute = Number(part.value); break;
      case 'second': sec = Number(part.value); break;
      default: break;
    }
  }
  return Date.UTC(year, month - 1, day, hour, minute, sec) - second;
}

/** The wall time at `ms` as epoch ms of the same reading in UTC ("local ms"). */
function wallAt(timeZone: string, ms: number): number {
  return ms + zoneOffset(timeZone, ms);
}

/** The first instant in (lo, hi] whose offset differs from the offset at lo (lo's offset differs from hi's). */
function transitionIn(timeZone: string, lo: number, hi: number): number {
  const before = zoneOffset(timeZone, lo);
  let a = lo;
  let b = hi;
  while (b - a > 1) {
    const mid = a + Math.floor((b - a) / 2);
    if (zoneOffset(timeZone, mid) === before) a = mid;
    else b = mid;
  }
  return b;
}

/**
 * The instant a window boundary at wall time `local` (local ms) falls on:
 * the last instant the wall clock reads `local`, or, when the clock skips
 * it, the transition that skips it. Assumes at most one offset change within
 * a day of the boundary (true of every zone in the IANA database since 1970).
 */
export function boundaryAt(timeZone: string, local: number): number {
  const before = zoneOffset(timeZone, local - DAY);
  const after = zoneOffset(timeZone, local + DAY);
  if (before === after) return local - before;
  const early = local - before; // the reading under the old offset
  const late = local - after; // the reading under the new offset
  if (after < before) {
    // Fall-back: the reading may happen twice; the later one counts.
    return zoneOffset(timeZone, late) === after ? late : early;
  }
  // Spring-forward: the reading exists under one offset, or falls in the gap.
  if (zoneOffset(timeZone, early) === before) return early;
  if (zoneOffset(timeZone, late) === after) return late;
  return transitionIn(timeZone, late, early);
}

function daysInMonth(year: number, month0: number): number {
  return new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();
}

/**
 * Windows of day, week and month units are numbered: `label(local)` is the
 * number of the window a wall time falls in by the calendar alone, and
 * `startOf(n)` the wall time (local ms) window n starts at.
 */
interface Numbering {
  label(local: number): number;
  startOf(n: number): number;
}

const DAYS: Numbering = {
  label: (local) => Math.floor(local / DAY),
  startOf: (n) => n * DAY,
};

// 1970-01-01 was a Thursday: day d's ISO week (from Monday) is floor((d + 3) / 7).
const WEEKS: Numbering = {
  label: (local) => Math.floor((Math.floor(local / DAY) + 3) / 7),
  startOf: (n) => (n * 7 - 3) * DAY,
};

function months(anchorDay: number): Numbering {
  const startOf = (n: number): number => {
    const year = Math.floor(n / 12);
    const month0 = n - year * 12;
    return Date.UTC(year, month0, Math.min(anchorDay, daysInMonth(year, month0)));
  };
  return {
    label: (local) => {
      const d = new Date(local);
      const n = d.getUTCFullYear() * 12 + d.getUTCMonth();
      return local < startOf(n) ? n - 1 : n;
    },
    startOf,
  };
}

function numbering(spec: CalendarSpec): Numbering {
  if (spec.unit === 'day') return DAYS;
  if (spec.unit === 'week') return WEEKS;
  return months(spec.anchorDay);
}

function hourWindow(timeZone: string, t: number): CalendarWindow {
  const offset = zoneOffset(timeZone, t);
  const wall = t + offset;
  let start = t - (((wall % HOUR) + HOUR) % HOUR);
  let end = start + HOUR;
  // Whole-hour offset changes keep hours aligned; a sub-hour change cuts the hour at the change.
  const aligned = (ms: number): boolean => (((zoneOffset(timeZone, ms) - offset) % HOUR) + HOUR) % HOUR === 0;
  if (!aligned(start)) start = transitionIn(timeZone, start, t);
  if (!aligned(end)) end = transitionIn(timeZone, t, end);
  return { start, end };
}

/**
 * The window instant `t` (epoch ms) falls in. The wall time at `t` names a
 * window by the calendar; when a fall-back puts `t` before that window's
 * boundary (or after the next), the neighbouring window is the answer.
 */
export function windowAt(spec: CalendarSpec, t: number): CalendarWindow {
  if (spec.unit === 'hour') return hourWindow(spec.timeZone, t);
  const num = numbering(spec);
  let n = num.label(wallAt(spec.timeZone, t));
  let start = boundaryAt(spec.timeZone, num.startOf(n));
  let end = boundaryAt(spec.timeZone, num.startOf(n + 1));
  while (t < start) {
    n -= 1;
    end = start;
    start = boundaryAt(spec.timeZone, num.startOf(n));
  }
  while (t >= end) {
    n += 1;
    start = end;
    end = boundaryAt(spec.timeZone, num.startOf(n + 1));
  }
  return { start, end };
}
