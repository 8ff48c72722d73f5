/**
 * Deadlines: a monotonic clock in milliseconds and microseconds, and an
 * Alarm, a single re-armable timer that calls back at an absolute monotonic
 * time. The store arms one alarm per queue (not one timer per check), so a
 * deadline costs a comparison, not a timer allocation.
 */

/** Monotonic milliseconds (fractional), the time base of deadlines. */
export function monotonicMs(): number {
  return performance.now();
}

/** Monotonic integer microseconds (floored), the local time base of the deny cache. */
export function monotonicMicros(): number {
  return Math.floor(performance.now() * 1000);
}

/**
 * A one-shot timer that fires `callback` at or after an absolute
 * {@link monotonicMs} time. Arming it again for an earlier time moves it;
 * for a later time while armed, it keeps the earlier one (the callback
 * re-arms for whatever is due next). Never fires early: a timer that Node
 * wakes up before `at` re-arms itself. The timer does not keep the process
 * alive by itself (the connection the awaited work runs on does).
 */
export class Alarm {
  readonly #callback: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Infinity;

  /** @param callback - called once per firing; it re-arms the alarm if more is due */
  constructor(callback: () => void) {
    this.#callback = callback;
  }

  /** True while a firing is scheduled. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Schedules a firing at monotonic time `at` (ms), unless one is already due no later. */
  arm(at: number): void {
    if (this.#timer !== undefined) {
      if (this.#at <= at) return;
      clearTimeout(this.#timer);
    }
    this.#at = at;
    const timer = setTimeout(this.#fire, Math.max(0, Math.ceil(at - monotonicMs())));
    timer.unref?.();
    this.#timer = timer;
  }

  /** Cancels the scheduled firing, if any. */
  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
  }

  readonly #fire = (): void => {
    const at = this.#at;
    this.#timer = undefined;
    this.#at = Infinity;
    if (monotonicMs() < at) {
      this.arm(at); // woke up early (ms rounding): wait for the rest
      return;
    }
    this.#callback();
  };
}
