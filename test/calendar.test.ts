/**
 * Calendar windows (issue 14): known answers around window boundaries in
 * several time zones, spring-forward and fall-back days, ISO weeks, month
 * anchors 29/30/31 in short and leap months, and the quota() builder's
 * validation. Every expected instant was worked out by hand from the zone's
 * rules (noted per case), not computed by the code under test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CalendarUnit, windowAt, zoneOffset, boundaryAt } from '../src/calendar.js';
import { ErrorCodes, LimiterError, quota } from '../src/index.js';
import { resolveQuota } from '../src/quotas.js';

interface WindowCase {
  readonly why: string;
  readonly zone: string;
  readonly unit: CalendarUnit;
  readonly anchor?: number;
  readonly at: string;
  readonly start: string;
  readonly end: string;
}

const H = 3_600_000;

// 2026: US DST from Sun Mar 8 07:00Z to Sun Nov 1 06:00Z; EU from Sun Mar 29 01:00Z to Sun Oct 25 01:00Z;
// Sydney DST ends Sun Apr 5 (03:00 AEDT = Apr 4 16:00Z) and starts Sun Oct 4 (02:00 AEST = Oct 3 16:00Z).
const CASES: readonly WindowCase[] = [
  // New York
  { why: 'spring-forward day lasts 23 h', zone: 'America/New_York', unit: 'day', at: '2026-03-08T12:00:00Z', start: '2026-03-08T05:00:00Z', end: '2026-03-09T04:00:00Z' },
  { why: 'last ms before the spring-forward day', zone: 'America/New_York', unit: 'day', at: '2026-03-08T04:59:59.999Z', start: '2026-03-07T05:00:00Z', end: '2026-03-08T05:00:00Z' },
  { why: 'the transition instant (03:00 EDT)', zone: 'America/New_York', unit: 'day', at: '2026-03-08T07:00:00Z', start: '2026-03-08T05:00:00Z', end: '2026-03-09T04:00:00Z' },
  { why: 'fall-back day lasts 25 h', zone: 'America/New_York', unit: 'day', at: '2026-11-01T12:00:00Z', start: '2026-11-01T04:00:00Z', end: '2026-11-02T05:00:00Z' },
  { why: 'last ms of the fall-back day', zone: 'America/New_York', unit: 'day', at: '2026-11-02T04:59:59.999Z', start: '2026-11-01T04:00:00Z', end: '2026-11-02T05:00:00Z' },
  { why: 'first ms after the fall-back day', zone: 'America/New_York', unit: 'day', at: '2026-11-02T05:00:00Z', start: '2026-11-02T05:00:00Z', end: '2026-11-03T05:00:00Z' },
  { why: 'first 01:30 of the fall-back (EDT)', zone: 'America/New_York', unit: 'hour', at: '2026-11-01T05:30:00Z', start: '2026-11-01T05:00:00Z', end: '2026-11-01T06:00:00Z' },
  { why: 'second 01:30 of the fall-back (EST) is its own hour', zone: 'America/New_York', unit: 'hour', at: '2026-11-01T06:30:00Z', start: '2026-11-01T06:00:00Z', end: '2026-11-01T07:00:00Z' },
  { why: '01:59:59.999 EST before the skipped hour', zone: 'America/New_York', unit: 'hour', at: '2026-03-08T06:59:59.999Z', start: '2026-03-08T06:00:00Z', end: '2026-03-08T07:00:00Z' },
  { why: '03:00 EDT right after the skipped hour', zone: 'America/New_York', unit: 'hour', at: '2026-03-08T07:00:00Z', start: '2026-03-08T07:00:00Z', end: '2026-03-08T08:00:00Z' },
  { why: 'ISO week holding the spring-forward lasts 167 h', zone: 'America/New_York', unit: 'week', at: '2026-03-08T12:00:00Z', start: '2026-03-02T05:00:00Z', end: '2026-03-09T04:00:00Z' },
  { why: 'month holding the fall-back (anchor 1)', zone: 'America/New_York', unit: 'month', at: '2026-11-15T00:00:00Z', start: '2026-11-01T04:00:00Z', end: '2026-12-01T05:00:00Z' },
  // Berlin
  { why: 'spring-forward day lasts 23 h', zone: 'Europe/Berlin', unit: 'day', at: '2026-03-29T12:00:00Z', start: '2026-03-28T23:00:00Z', end: '2026-03-29T22:00:00Z' },
  { why: 'fall-back day lasts 25 h', zone: 'Europe/Berlin', unit: 'day', at: '2026-10-25T12:00:00Z', start: '2026-10-24T22:00:00Z', end: '2026-10-25T23:00:00Z' },
  { why: 'anchor 15 across the spring-forward', zone: 'Europe/Berlin', unit: 'month', anchor: 15, at: '2026-04-01T00:00:00Z', start: '2026-03-14T23:00:00Z', end: '2026-04-14T22:00:00Z' },
  { why: 'anchor 15, last ms before the 15th', zone: 'Europe/Berlin', unit: 'month', anchor: 15, at: '2026-04-14T21:59:59.999Z', start: '2026-03-14T23:00:00Z', end: '2026-04-14T22:00:00Z' },
  { why: 'anchor 15, the 15th 00:00 CEST', zone: 'Europe/Berlin', unit: 'month', anchor: 15, at: '2026-04-14T22:00:00Z', start: '2026-04-14T22:00:00Z', end: '2026-05-14T22:00:00Z' },
  { why: 'anchor 31 clamps to Feb 28 (2027)', zone: 'Europe/Berlin', unit: 'month', anchor: 31, at: '2027-02-28T23:30:00Z', start: '2027-02-27T23:00:00Z', end: '2027-03-30T22:00:00Z' },
  { why: 'anchor 31, Feb 27 23:59:59.999 is still January\'s window', zone: 'Europe/Berlin', unit: 'month', anchor: 31, at: '2027-02-27T22:59:59.999Z', start: '2027-01-30T23:00:00Z', end: '2027-02-27T23:00:00Z' },
  { why: 'anchor 31 clamps to Feb 29 in a leap year (2028)', zone: 'Europe/Berlin', unit: 'month', anchor: 31, at: '2028-02-29T12:00:00Z', start: '2028-02-28T23:00:00Z', end: '2028-03-30T22:00:00Z' },
  { why: 'anchor 31 clamps to Apr 30', zone: 'Europe/Berlin', unit: 'month', anchor: 31, at: '2026-04-30T12:00:00Z', start: '2026-04-29T22:00:00Z', end: '2026-05-30T22:00:00Z' },
  { why: 'anchor 30 clamps to Feb 28, next window Mar 30', zone: 'Europe/Berlin', unit: 'month', anchor: 30, at: '2026-02-28T12:00:00Z', start: '2026-02-27T23:00:00Z', end: '2026-03-29T22:00:00Z' },
  { why: 'anchor 29 clamps to Feb 28 (2026)', zone: 'Europe/Berlin', unit: 'month', anchor: 29, at: '2026-02-15T00:00:00Z', start: '2026-01-28T23:00:00Z', end: '2026-02-27T23:00:00Z' },
  { why: 'anchor 29 is Feb 29 in a leap year (2028)', zone: 'Europe/Berlin', unit: 'month', anchor: 29, at: '2028-02-29T00:00:00Z', start: '2028-02-28T23:00:00Z', end: '2028-03-28T22:00:00Z' },
  // Sydney (southern hemisphere)
  { why: 'fall-back day (Apr 5) lasts 25 h', zone: 'Australia/Sydney', unit: 'day', at: '2026-04-05T06:00:00Z', start: '2026-04-04T13:00:00Z', end: '2026-04-05T14:00:00Z' },
  { why: 'spring-forward day (Oct 4) lasts 23 h', zone: 'Australia/Sydney', unit: 'day', at: '2026-10-04T06:00:00Z', start: '2026-10-03T14:00:00Z', end: '2026-10-04T13:00:00Z' },
  { why: 'first 02:30 of the fall-back (AEDT)', zone: 'Australia/Sydney', unit: 'hour', at: '2026-04-04T15:30:00Z', start: '2026-04-04T15:00:00Z', end: '2026-04-04T16:00:00Z' },
  { why: 'second 02:30 of the fall-back (AEST)', zone: 'Australia/Sydney', unit: 'hour', at: '2026-04-04T16:30:00Z', start: '2026-04-04T16:00:00Z', end: '2026-04-04T17:00:00Z' },
  { why: 'anchor 31 clamps to Sep 30, ends Oct 31 after the spring-forward', zone: 'Australia/Sydney', unit: 'month', anchor: 31, at: '2026-10-10T00:00:00Z', start: '2026-09-29T14:00:00Z', end: '2026-10-30T13:00:00Z' },
  { why: 'ISO week (Mon Mar 30 - Mon Apr 6) holding the fall-back lasts 169 h', zone: 'Australia/Sydney', unit: 'week', at: '2026-04-01T00:00:00Z', start: '2026-03-29T13:00:00Z', end: '2026-04-05T14:00:00Z' },
  // UTC and zones with odd offsets or transitions
  { why: 'UTC month', zone: 'UTC', unit: 'month', at: '2026-12-02T01:25:00Z', start: '2026-12-01T00:00:00Z', end: '2027-01-01T00:00:00Z' },
  { why: 'UTC ISO week: Monday 00:00', zone: 'UTC', unit: 'week', at: '2026-12-07T00:00:00Z', start: '2026-12-07T00:00:00Z', end: '2026-12-14T00:00:00Z' },
  { why: 'UTC ISO week: Sunday 23:59:59.999', zone: 'UTC', unit: 'week', at: '2026-12-06T23:59:59.999Z', start: '2026-11-30T00:00:00Z', end: '2026-12-07T00:00:00Z' },
  { why: 'ISO week across the new year (2027-01-01 is a Friday)', zone: 'UTC', unit: 'week', at: '2027-01-01T12:00:00Z', start: '2026-12-28T00:00:00Z', end: '2027-01-04T00:00:00Z' },
  { why: 'half-hour offset: Kolkata hours start at :30 UTC', zone: 'Asia/Kolkata', unit: 'hour', at: '2026-03-08T12:00:00Z', start: '2026-03-08T11:30:00Z', end: '2026-03-08T12:30:00Z' },
  { why: 'Lord Howe 30-min spring-forward: the hour before it', zone: 'Australia/Lord_Howe', unit: 'hour', at: '2026-10-03T15:10:00Z', start: '2026-10-03T14:30:00Z', end: '2026-10-03T15:30:00Z' },
  { why: 'Lord Howe: 02:30-03:00 (+11) is a 30-min hour', zone: 'Australia/Lord_Howe', unit: 'hour', at: '2026-10-03T15:40:00Z', start: '2026-10-03T15:30:00Z', end: '2026-10-03T16:00:00Z' },
  { why: 'Lord Howe: the spring-forward day lasts 23.5 h', zone: 'Australia/Lord_Howe', unit: 'day', at: '2026-10-03T15:40:00Z', start: '2026-10-03T13:30:00Z', end: '2026-10-04T13:00:00Z' },
  { why: 'São Paulo 2018: midnight skipped, the day starts at 01:00 -02', zone: 'America/Sao_Paulo', unit: 'day', at: '2018-11-04T12:00:00Z', start: '2018-11-04T03:00:00Z', end: '2018-11-05T02:00:00Z' },
  { why: 'São Paulo 2018: the day before ends at the transition', zone: 'America/Sao_Paulo', unit: 'day', at: '2018-11-04T02:59:59.999Z', start: '2018-11-03T03:00:00Z', end: '2018-11-04T03:00:00Z' },
  { why: 'São Paulo 2019: 23:00 repeats, Feb 16 lasts 25 h', zone: 'America/Sao_Paulo', unit: 'day', at: '2019-02-17T02:30:00Z', start: '2019-02-16T02:00:00Z', end: '2019-02-17T03:00:00Z' },
];

describe('calendar windows: known answers', () => {
  for (const c of CASES) {
    it(`${c.zone} ${c.unit}${c.anchor ? ` anchor ${c.anchor}` : ''} at ${c.at}: ${c.why}`, () => {
      const w = windowAt({ unit: c.unit, timeZone: c.zone, anchorDay: c.anchor ?? 1 }, Date.parse(c.at));
      assert.deepEqual(
        { start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() },
        { start: new Date(c.start).toISOString(), end: new Date(c.end).toISOString() },
      );
    });
  }

  it('windows tile time: each window starts where the previous one ends, over two years in four zones', () => {
    for (const zone of ['America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'Australia/Lord_Howe']) {
      for (const unit of ['month', 'week', 'day', 'hour'] as const) {
        const spec = { unit, timeZone: zone, anchorDay: unit === 'month' ? 31 : 1 };
        const span = unit === 'hour' ? 60 * 24 * H : 2 * 366 * 24 * H;
        let t = Date.parse('2026-01-01T00:00:00Z');
        const stop = t + span;
        let count = 0;
        let w = windowAt(spec, t);
        while (w.end < stop && count < 20_000) {
          assert.ok(w.start <= t && t < w.end, `${zone} ${unit}: ${t} inside its window`);
          const next = windowAt(spec, w.end);
          assert.equal(next.start, w.end, `${zone} ${unit}: window after ${new Date(w.end).toISOString()} starts there`);
          assert.deepEqual(windowAt(spec, w.end - 1), w, `${zone} ${unit}: the last ms belongs to the window`);
          t = w.end;
          w = next;
          count += 1;
        }
        assert.ok(count > 0);
      }
    }
  });

  it('zoneOffset and boundaryAt follow the zone rules', () => {
    assert.equal(zoneOffset('Europe/Berlin', Date.parse('2026-01-15T00:00:00Z')), H);
    assert.equal(zoneOffset('Europe/Berlin', Date.parse('2026-07-15T00:00:00Z')), 2 * H);
    assert.equal(zoneOffset('Asia/Kolkata', 0), 5.5 * H);
    // 02:30 on Mar 8 2026 does not exist in New York: the boundary is the transition, 07:00Z.
    assert.equal(boundaryAt('America/New_York', Date.UTC(2026, 2, 8, 2, 30)), Date.parse('2026-03-08T07:00:00Z'));
    // 01:30 on Nov 1 2026 happens twice: the later one (EST) counts.
    assert.equal(boundaryAt('America/New_York', Date.UTC(2026, 10, 1, 1, 30)), Date.parse('2026-11-01T06:30:00Z'));
  });
});

describe('quota(): builder and validation', () => {
  function rejects(fn: () => unknown, pattern: RegExp): void {
    assert.throws(fn, (e: unknown) => e instanceof LimiterError && e.code === ErrorCodes.INVALID_LIMIT && pattern.test(e.message));
  }

  it('builds a frozen quota with defaults', () => {
    const q = quota(100_000, 'month', { timeZone: 'Europe/Berlin', anchorDay: 15 });
    assert.deepEqual(q, { kind: 'quota', amount: 100_000, unit: 'month', timeZone: 'Europe/Berlin', anchorDay: 15 });
    assert.ok(Object.isFrozen(q));
    assert.deepEqual(quota(5, 'day'), { kind: 'quota', amount: 5, unit: 'day', timeZone: 'UTC' });
    assert.deepEqual(quota(5, 'month', { name: 'plan' }), { kind: 'quota', amount: 5, unit: 'month', timeZone: 'UTC', anchorDay: 1, name: 'plan' });
    assert.equal(resolveQuota(quota(5, 'hour', { timeZone: 'utc' })).spec.timeZone, 'UTC');
  });

  it('names the option, the value and what is allowed', () => {
    rejects(() => quota(0, 'day'), /quota\.amount must be an integer >= 1, got 0/);
    rejects(() => quota(1.5, 'day'), /quota\.amount .* got 1\.5/);
    rejects(() => quota(Number.NaN, 'day'), /quota\.amount .* got NaN/);
    rejects(() => quota(10, 'year' as CalendarUnit), /quota\.unit must be one of "month", "week", "day", "hour", got "year"/);
    rejects(() => quota(10, 'day', { timeZone: 'Mars/Olympus' }), /quota\.timeZone must be an IANA time zone name .* got "Mars\/Olympus"/);
    rejects(() => quota(10, 'day', { timeZone: '' }), /quota\.timeZone .* got ""/);
    rejects(() => quota(10, 'month', { anchorDay: 32 }), /quota\.anchorDay must be an integer day of the month in \[1, 31\], got 32/);
    rejects(() => quota(10, 'month', { anchorDay: 0 }), /quota\.anchorDay .* got 0/);
    rejects(() => quota(10, 'month', { anchorDay: 1.5 }), /quota\.anchorDay .* got 1\.5/);
    rejects(() => quota(10, 'week', { anchorDay: 3 }), /quota\.anchorDay must be given only for "month" quotas \(this one is "week"\), got 3/);
    rejects(() => quota(10, 'day', { name: '' }), /quota\.name must be a non-empty string/);
    rejects(() => quota(10, 'day', { timezone: 'UTC' } as never), /quota option "timezone" is unknown; allowed: "timeZone", "anchorDay", "name"/);
    rejects(() => quota(10, 'day', 'UTC' as never), /quota options must be an object/);
  });

  it('boundaries() gives the windows before, at and after an instant, in µs', () => {
    const r = resolveQuota(quota(10, 'day', { timeZone: 'America/New_York' }));
    const b = r.boundaries(Date.parse('2026-11-01T12:00:00Z') * 1000);
    assert.deepEqual(b, {
      previous: Date.parse('2026-10-31T04:00:00Z') * 1000,
      start: Date.parse('2026-11-01T04:00:00Z') * 1000,
      end: Date.parse('2026-11-02T05:00:00Z') * 1000,
      next: Date.parse('2026-11-03T05:00:00Z') * 1000,
    });
    // Cached while the instant stays in the window; recomputed after it.
    assert.equal(r.boundaries(Date.parse('2026-11-02T04:59:59Z') * 1000), b);
    assert.equal(r.boundaries(Date.parse('2026-11-02T05:00:00Z') * 1000).start, b.end);
  });
});
