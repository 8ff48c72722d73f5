/**
 * Clocks: functions returning the current time in integer microseconds since
 * the Unix epoch. Stores accept one as their `now` option.
 */
import { ErrorCodes, LimiterError, describe } from './errors.js';
import { MAX_SAFE } from './intmath.js';

/** Returns the current time in integer microseconds since the Unix epoch. */
export type Clock = () => number;

/** The process clock: wall time anchored at process start, advanced by the monotonic timer. */
export const processClock: Clock = () => Math.floor((performance.timeOrigin + performance.now()) * 1000);

/** Reads a clock and checks it returned integer microseconds in [0, 2^53). */
export function readClock(clock: Clock): number {
  const now = clock();
  if (typeof now !== 'number' || !Number.isInteger(now) || now < 0 || now >= MAX_SAFE) {
    throw new LimiterError(
      ErrorCodes.INVALID_CLOCK,
      `now() must return integer microseconds since the Unix epoch in [0, 2^53), got ${describe(now)}`,
    );
  }
  return now;
}

/** Validates a `now` option: undefined or a function. */
export function checkClockOption(owner: string, now: unknown): Clock | undefined {
  if (now === undefined) return undefined;
  if (typeof now !== 'function') {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} option "now" must be a function returning integer microseconds, got ${describe(now)}`);
  }
  return now as Clock;
}
