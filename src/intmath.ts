/**
 * Exact integer helpers on JS numbers (doubles). Every operand stays below
 * 2^53, so results are exact once the division is corrected.
 */

/** 2^53: every time value and product the algorithm forms must stay below it. */
export const MAX_SAFE = 2 ** 53;

/** Exact floor(a / b) for integers a and b >= 1 (corrects the rounded double quotient). */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q -= 1;
  else if ((q + 1) * b <= a) q += 1;
  return q;
}

/** Exact ceil(a / b) for integers a >= 0 and b >= 1. */
export function ceilDiv(a: number, b: number): number {
  return floorDiv(a + b - 1, b);
}

/** Microseconds to milliseconds, rounded up (a retry hint must never be early). */
export function usToMs(us: number): number {
  return us <= 0 ? 0 : ceilDiv(us, 1000);
}
