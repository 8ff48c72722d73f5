/**
 * A lease of a concurrency limit, as `Limiter.acquire` (and `allowAll`)
 * hand it out: the figures of the acquire, and `release()` / `extend()`,
 * which go to the store that holds the lease (the limiter's store, or the
 * in-process store of the `local` failure policy).
 */
import { processClock } from './clock.js';
import type { ConcurrencyLimit } from './concurrency.js';
import { ErrorCodes, LimiterError } from './errors.js';
import { usToMs } from './intmath.js';
import type { FailureReason } from './result.js';
import type { ExtendItem, LeaseOutcome, ReleaseItem } from './store.js';

/** A lease of a concurrency limit. Denial is a lease with `allowed: false`, never an error. */
export interface Lease {
  /** True when the lease was taken. */
  readonly allowed: boolean;
  /** Leases of the key held after the acquire (this one included when allowed). */
  readonly inFlight: number;
  /** Leases of the key still free after the acquire. */
  readonly remaining: number;
  /** When denied: ms until the oldest held lease expires (rounded up); 0 when allowed. */
  readonly retryAfter: number;
  /** When the lease expires unless released or extended, ms since the epoch on the store's clock (Redis `TIME`); 0 when denied. */
  readonly expiresAt: number;
  /** The key the lease is of. */
  readonly key: string;
  /** The concurrency limit it was taken under. */
  readonly limit: ConcurrencyLimit;
  /** Present only when the store failed and a failure policy decided. */
  readonly reason?: FailureReason;
  /**
   * Gives the lease back. Resolves true when it was still in the store (held,
   * or expired but not yet removed by a later acquire: a late release, which
   * is then not counted as expired), false when there was nothing to give
   * back (denied, already released, expired and removed). Idempotent. On a store failure it rejects with the
   * LimiterError under `onStoreError: 'throw'`, and otherwise resolves
   * false (the lease frees itself at `expiresAt`).
   */
  release(): Promise<boolean>;
  /**
   * Renews the lease to expire `ttl` ms from now (default: the limit's ttl):
   * a heartbeat for long work. Resolves with the new `expiresAt`. Rejects
   * with ERR_LEASE_EXPIRED when the lease is no longer held (expired,
   * released, or never granted), and with the store's error when it fails.
   */
  extend(ttl?: number): Promise<number>;
}

/** What a lease needs from the limiter that granted it. */
export interface LeaseKeeper {
  /** Runs a release or extend item of `lease` on the store holding it (`local`: the failure policy's in-process store). */
  run(item: ReleaseItem | ExtendItem, lease: LeaseHandle, local: boolean): Promise<LeaseOutcome>;
  /** True when a release that fails on the store must reject (policy `throw`). */
  readonly rejectsOnFailure: boolean;
  /** Validates an `extend(ttl)` argument in ms; returns µs. */
  ttl(ttl: unknown): number;
  /** Called when the lease was taken or extended: held for `ttl` µs from now. */
  held(lease: LeaseHandle, ttl: number): void;
  /** Called once when the lease stops being held by this process (released, or found expired). */
  gone(lease: LeaseHandle): void;
}

/** The lease object handed out by the limiter. */
export class LeaseHandle implements Lease {
  readonly allowed: boolean;
  readonly inFlight: number;
  readonly remaining: number;
  readonly retryAfter: number;
  readonly key: string;
  readonly limit: ConcurrencyLimit;
  readonly reason?: FailureReason;
  /** The lease id in the store. */
  readonly id: string;
  readonly #keeper: LeaseKeeper;
  readonly #ttl: number;
  #expiresAt: number;
  #released = false;
  #releasing: Promise<boolean> | undefined;

  /**
   * @param keeper - the granting limiter's side; @param key - the key;
   * @param limit - the limit; @param ttl - its lease lifetime in µs;
   * @param id - the lease id; @param outcome - the acquire's outcome;
   * @param reason - the failure policy that decided, if any
   */
  constructor(keeper: LeaseKeeper, key: string, limit: ConcurrencyLimit, ttl: number, id: string, outcome: LeaseOutcome, reason: FailureReason | undefined) {
    this.#keeper = keeper;
    this.#ttl = ttl;
    this.key = key;
    this.limit = limit;
    this.id = id;
    this.allowed = outcome.allowed && outcome.granted === 1;
    this.inFlight = outcome.inFlight;
    this.remaining = outcome.remaining;
    this.retryAfter = usToMs(outcome.retryAfter);
    this.#expiresAt = this.allowed ? outcome.expiresAt : 0;
    if (reason !== undefined) this.reason = reason;
  }

  get expiresAt(): number {
    return Math.floor(this.#expiresAt / 1000);
  }

  /** True while this process has neither released the lease nor seen it expire. */
  get held(): boolean {
    return this.allowed && !this.#released;
  }

  release(): Promise<boolean> {
    if (!this.allowed || this.#released) return Promise.resolve(false);
    if (this.#releasing) return this.#releasing;
    if (this.reason === 'open') {
      // Allowed by the failure policy: no store holds it.
      this.#gone();
      return Promise.resolve(false);
    }
    const item: ReleaseItem = { kind: 'concurrency', op: 'release', key: this.key, lease: this.id };
    const releasing = this.#keeper.run(item, this, this.reason === 'local').then(
      (outcome) => {
        this.#gone();
        return outcome.allowed;
      },
      (error: unknown) => {
        this.#releasing = undefined;
        if (this.#keeper.rejectsOnFailure) throw error;
        return false;
      },
    );
    this.#releasing = releasing;
    return releasing;
  }

  async extend(ttl?: number): Promise<number> {
    const us = ttl === undefined ? this.#ttl : this.#keeper.ttl(ttl);
    if (!this.allowed) throw this.#lost('was never granted (the acquire was denied)');
    if (this.#released || this.#releasing) throw this.#lost('was released');
    if (this.reason === 'open') {
      // No store holds it: renewed in name only, on the process clock (as the policy granted it).
      this.#expiresAt = processClock() + us;
      return this.expiresAt;
    }
    const item: ExtendItem = { kind: 'concurrency', op: 'extend', key: this.key, lease: this.id, ttl: us };
    const outcome = await this.#keeper.run(item, this, this.reason === 'local');
    if (!outcome.allowed) {
      this.#gone();
      throw this.#lost(`expired at ${new Date(this.expiresAt).toISOString()} (store clock) before it was extended`);
    }
    this.#expiresAt = outcome.expiresAt;
    this.#keeper.held(this, us);
    return this.expiresAt;
  }

  #gone(): void {
    if (this.#released) return;
    this.#released = true;
    this.#keeper.gone(this);
  }

  #lost(why: string): LimiterError {
    return new LimiterError(ErrorCodes.LEASE_EXPIRED, `the lease of ${JSON.stringify(this.key)} is no longer held: it ${why}`);
  }
}
