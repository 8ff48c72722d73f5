/**
 * Test helper for failover tests: closed-loop load in named groups of
 * workers (e.g. "keys on the master that dies" and "keys on the healthy
 * masters"), bounded in checks and time, recording when each check started
 * and settled and how; then rates over time windows, the first success after
 * a moment, and the longest a check took. A loop backs off 1 ms after a
 * check that failed or that a failure policy answered. A paced group issues
 * each worker's checks once per `paceMs` on average (a steady offered load that
 * a loaded machine still sustains, so a rate that drops is the store's doing,
 * not the machine's); unpaced, a loop issues its next check at once.
 */
import type { LimitResult } from '../../src/result.js';

/** One settled check. */
export interface Sample {
  /** The worker group it belongs to. */
  readonly group: string;
  /** performance.now() when it was issued and when it settled. */
  readonly start: number;
  readonly end: number;
  /** The result, when it resolved. */
  readonly result?: LimitResult;
  /** The error code (or message), when it rejected. */
  readonly error?: string;
  /** The error's message, when it rejected. */
  readonly message?: string;
}

/** How far behind its schedule a paced loop may fall and still catch up, ms. */
const MAX_CATCH_UP_MS = 500;

/** Closed-loop load: each worker issues one check, awaits it, and issues the next. */
export class Load {
  /** Every settled check, in settling order. */
  readonly samples: Sample[] = [];
  readonly #running: Promise<void>[] = [];
  #stopped = false;
  #lagTimer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  /** The longest the event loop went without running a 10 ms timer, ms (a stalled or starved process). */
  maxLag = 0;

  /**
   * Starts `workers` loops in `group`; loop `w` calls `check(w, n)` for its
   * n-th check. Each loop ends after `maxChecks` checks, at `deadline`
   * (performance.now() ms), or on stop(). With `paceMs`, loop `w` starts
   * `w * paceMs / workers` ms late and issues a check every `paceMs` (catching up when held up).
   */
  run(group: string, workers: number, check: (worker: number, n: number) => Promise<LimitResult>, maxChecks: number, deadline: number, paceMs = 0): void {
    if (this.#lagTimer === undefined) {
      this.#lastTick = performance.now();
      this.#lagTimer = setInterval(() => {
        const now = performance.now();
        this.maxLag = Math.max(this.maxLag, now - this.#lastTick - 10);
        this.#lastTick = now;
      }, 10);
    }
    for (let w = 0; w < workers; w += 1) {
      this.#running.push(
        (async () => {
          if (paceMs > 0) await pause((w * paceMs) / workers);
          let due = performance.now();
          for (let n = 0; n < maxChecks && !this.#stopped && performance.now() < deadline; n += 1) {
            const start = performance.now();
            try {
              const result = await check(w, n);
              this.samples.push({ group, start, end: performance.now(), result });
              if (result.reason !== undefined) await pause(1); // answered by a failure policy, without I/O: see below
            } catch (error) {
              const code = (error as { code?: unknown }).code;
              const message = error instanceof Error ? error.message : String(error);
              this.samples.push({ group, start, end: performance.now(), error: typeof code === 'string' ? code : message, message });
              // A check that fails at once (a store that knows Redis is down), or one a failure policy
              // answers, must not spin the loop without ever yielding to timers and I/O: back off 1 ms.
              await pause(1);
            }
            if (paceMs > 0) {
              // On a schedule: a loop held up (a slow check, a stalled process) catches up, by at most MAX_CATCH_UP_MS.
              due = Math.max(due + paceMs, performance.now() - MAX_CATCH_UP_MS);
              const wait = due - performance.now();
              if (wait > 0) await pause(wait);
            }
          }
        })(),
      );
    }
  }

  /** Stops every loop after its current check and waits for them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
    clearInterval(this.#lagTimer);
  }

  /** Checks of `group` decided by the store (not rejected, not answered by a failure policy) per second, settled within [from, to). */
  rate(group: string, from: number, to: number): number {
    const n = this.samples.filter((s) => s.group === group && decided(s) && s.end >= from && s.end < to).length;
    return (n * 1000) / Math.max(1, to - from);
  }

  /** How many checks of `group` issued at or after `after` the store decided. */
  decided(group: string, after: number): number {
    let n = 0;
    for (const s of this.samples) if (s.group === group && s.start >= after && decided(s)) n += 1;
    return n;
  }

  /** When the first check of `group` issued after `after` was decided by the store, if one was. */
  firstSuccess(group: string, after: number): number | undefined {
    let first: number | undefined;
    for (const s of this.samples) if (s.group === group && s.start >= after && decided(s) && (first === undefined || s.end < first)) first = s.end;
    return first;
  }

  /** The longest any check took, ms. */
  longest(): number {
    return this.samples.reduce((max, s) => Math.max(max, s.end - s.start), 0);
  }

  /** The first error message seen in `group`, if any (for diagnostics). */
  firstError(group: string): string | undefined {
    return this.samples.find((s) => s.group === group && s.message !== undefined)?.message;
  }

  /** Counts of outcomes in `group` (`allowed`, `denied`, `reason:<r>`, or the error code). */
  tally(group: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.samples) {
      if (s.group !== group) continue;
      const what = s.error ?? (s.result?.reason ? `reason:${s.result.reason}` : s.result?.allowed ? 'allowed' : 'denied');
      counts[what] = (counts[what] ?? 0) + 1;
    }
    return counts;
  }
}

/** True when the store decided the check (it resolved without a failure policy's `reason`). */
function decided(sample: Sample): boolean {
  return sample.result !== undefined && sample.result.reason === undefined;
}

/** Waits `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
