/**
 * A circuit breaker for one store target (today: a RedisStore; later: one
 * node of a Redis Cluster). Closed: checks go to Redis. After `failures`
 * Redis failures in a row it opens: checks fail at once with the last error
 * (so a failure policy answers them without a round trip). After `openFor`
 * ms, or as soon as a connection becomes ready again, it is half-open: ONE
 * check goes through as a probe while the others keep failing at once. The
 * probe's success closes it; its failure opens it again. Each state change is
 * reported once, never per check.
 */
import { ErrorCodes, LimiterError } from './errors.js';

/** States of a {@link CircuitBreaker}. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Options of a {@link CircuitBreaker}, validated by the caller. */
export interface BreakerOptions {
  /** Redis failures in a row that open the breaker (>= 1). */
  readonly failures: number;
  /** ms the breaker stays open before letting a probe through (>= 0). */
  readonly openFor: number;
}

/** One state change, as reported to the breaker's listener. */
export interface BreakerChange {
  /** The state before. */
  readonly from: BreakerState;
  /** The state after. */
  readonly to: BreakerState;
  /** The failure that opened the breaker (or kept it open), when `to` is `open`. */
  readonly error?: LimiterError;
  /** What the breaker guards (e.g. `"redis"`, or a Cluster node's address). */
  readonly target: string;
}

/** What {@link CircuitBreaker.admit} decided for one check. */
export type Admission = 'pass' | 'probe' | LimiterError;

/** Errors of one check inside a call Redis answered (e.g. WRONGTYPE on its key): Redis itself is fine. */
const answered = new WeakSet<LimiterError>();

/** Marks `error` as a check's own error inside a call Redis answered; the breaker counts it as an answer. */
export function markAnswered(error: LimiterError): void {
  answered.add(error);
}

/**
 * True for errors that say Redis itself is failing: ERR_STORE or ERR_TIMEOUT,
 * except a check's own error reply inside an answered call (not the caller's
 * input, not local back-pressure, not a closed store).
 */
export function isRedisFailure(error: unknown): error is LimiterError {
  return error instanceof LimiterError && (error.code === ErrorCodes.STORE || error.code === ErrorCodes.TIMEOUT) && !answered.has(error);
}

/** A closed → open → half-open (one probe) → closed breaker. */
export class CircuitBreaker {
  readonly #options: BreakerOptions;
  readonly #target: string;
  readonly #onChange: (change: BreakerChange) => void;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  #lastError: LimiterError | undefined;
  #since = Date.now();

  /** @param options - thresholds; @param target - what it guards; @param onChange - called once per state change */
  constructor(options: BreakerOptions, target: string, onChange: (change: BreakerChange) => void) {
    this.#options = options;
    this.#target = target;
    this.#onChange = onChange;
  }

  /** The current state. */
  get state(): BreakerState {
    return this.#state;
  }

  /** The latest Redis failure seen (kept after recovery, for health reports). */
  get lastError(): LimiterError | undefined {
    return this.#lastError;
  }

  /** Failures in a row since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** When the state last changed, ms since the epoch. */
  get since(): number {
    return this.#since;
  }

  /**
   * Whether a check may go to Redis now: `pass`, `probe` (the one check of
   * the half-open state), or the error to fail it with at once.
   */
  admit(): Admission {
    if (this.#state === 'closed') return 'pass';
    if (this.#state === 'open') {
      if (performance.now() < this.#openUntil) return this.#openError();
      this.#move('half-open');
    }
    if (this.#probing) return this.#openError();
    this.#probing = true;
    return 'probe';
  }

  /** A connection became ready: an open breaker lets its probe through now instead of waiting out `openFor`. */
  wake(): void {
    if (this.#state === 'open') this.#move('half-open');
  }

  /** Redis answered a check: the breaker closes (whether or not it was the probe). */
  success(probe: boolean): void {
    if (probe) this.#probing = false;
    this.#failures = 0;
    if (this.#state !== 'closed') this.#move('closed');
  }

  /** A check failed; only Redis failures count (see {@link isRedisFailure}); a check's own error reply counts as an answer. */
  failure(error: unknown, probe: boolean): void {
    if (error instanceof LimiterError && answered.has(error)) {
      this.success(probe);
      return;
    }
    if (probe) this.#probing = false;
    if (!isRedisFailure(error)) return;
    this.#lastError = error;
    this.#failures += 1;
    if (this.#state === 'closed' ? this.#failures >= this.#options.failures : probe) {
      this.#openUntil = performance.now() + this.#options.openFor;
      this.#move('open', error);
    }
  }

  #openError(): LimiterError {
    const last = this.#lastError;
    const code = last?.code ?? ErrorCodes.STORE;
    // While open, the time until the probe is known: HTTP adapters send it as Retry-After.
    const wait = this.#state === 'open' ? Math.max(0, Math.ceil(this.#openUntil - performance.now())) : undefined;
    return new LimiterError(code, `Redis is failing, checks are not sent (circuit ${this.#state}): ${last?.message ?? 'no answer'}`, {
      cause: last,
      ...(wait === undefined ? {} : { retryAfter: wait }),
    });
  }

  #move(to: BreakerState, error?: LimiterError): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#since = Date.now();
    if (to !== 'half-open') this.#probing = false;
    this.#onChange({ from, to, target: this.#target, ...(error ? { error } : {}) });
  }
}
