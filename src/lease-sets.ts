/**
 * The in-process store's leases (src/concurrency-kind.ts's LeaseState): per
 * key, the held leases with their expiry, kept in order of expiry (a Map in
 * insertion order, re-sorted only when a lease is put before the newest), so
 * removing the expired ones and finding the oldest cost O(1) per lease.
 * Keys are kept in order of last write, so the store can reclaim keys whose
 * every lease expired and evict the least recently written one when full.
 */
import type { LeaseRead, LeaseState } from './concurrency-kind.js';

/** One key's leases: id -> expiry (µs), in order of expiry. */
class LeaseSet {
  leases = new Map<string, number>();
  newest = 0;
  /** µs until which the key is kept (its Redis twin's PEXPIRE, never shortened): one ttl past each lease put. */
  keep = 0;

  /** Removes the leases expired at `now`; returns how many. */
  prune(now: number): number {
    let expired = 0;
    for (const [id, expiry] of this.leases) {
      if (expiry > now) break;
      this.leases.delete(id);
      expired += 1;
    }
    if (this.leases.size === 0) this.newest = 0;
    return expired;
  }

  put(id: string, expiry: number): void {
    const had = this.leases.get(id);
    this.leases.delete(id);
    if (had === this.newest) this.newest = this.#latest();
    if (expiry >= this.newest) {
      this.leases.set(id, expiry);
    } else {
      this.leases.set(id, expiry);
      this.leases = new Map([...this.leases].sort((x, y) => x[1] - y[1]));
    }
    if (expiry > this.newest) this.newest = expiry;
  }

  remove(id: string): void {
    const had = this.leases.get(id);
    if (had === undefined) return;
    this.leases.delete(id);
    if (had === this.newest) this.newest = this.#latest();
  }

  #latest(): number {
    let latest = 0;
    for (const expiry of this.leases.values()) if (expiry > latest) latest = expiry;
    return latest;
  }
}

/** The lease sets of an in-process store. */
export class LeaseSets implements LeaseState {
  /** key -> its leases, in order of last write (oldest first). */
  readonly #keys = new Map<string, LeaseSet>();

  /** Number of keys holding leases (some may have expired, until reclaimed). */
  get size(): number {
    return this.#keys.size;
  }

  read(key: string, now: number): LeaseRead {
    const set = this.#keys.get(key);
    if (set === undefined) return { count: 0, oldest: 0, expired: 0 };
    if (set.keep <= now) {
      // Past its keep time the key is gone, uncounted leases and all (as Redis expires it).
      this.#keys.delete(key);
      return { count: 0, oldest: 0, expired: 0 };
    }
    const expired = set.prune(now);
    if (set.leases.size === 0) this.#keys.delete(key);
    const first = set.leases.values().next();
    return { count: set.leases.size, oldest: first.done ? 0 : first.value, expired };
  }

  holds(key: string, lease: string, now: number): boolean {
    const set = this.#keys.get(key);
    const expiry = set !== undefined && set.keep > now ? set.leases.get(lease) : undefined;
    return expiry !== undefined && expiry > now;
  }

  has(key: string, lease: string, now: number): boolean {
    const set = this.#keys.get(key);
    return set !== undefined && set.keep > now && set.leases.has(lease);
  }

  put(key: string, lease: string, expiresAt: number, keepFor: number): void {
    const set = this.#keys.get(key) ?? new LeaseSet();
    this.#keys.delete(key);
    this.#keys.set(key, set);
    set.put(lease, expiresAt);
    set.keep = Math.max(set.keep, expiresAt + keepFor);
  }

  remove(key: string, lease: string): void {
    const set = this.#keys.get(key);
    if (set === undefined) return;
    set.remove(lease);
    if (set.leases.size === 0) this.#keys.delete(key);
  }

  /** Deletes every lease of `key`. */
  delete(key: string): void {
    this.#keys.delete(key);
  }

  /** Drops every key. */
  clear(): void {
    this.#keys.clear();
  }

  /**
   * Reclaims, among the least recently written keys, up to `sweep` past
   * their keep time at `now`, and evicts the least recently written keys
   * while `over()` says the store holds too many.
   */
  reclaim(now: number, sweep: number, over: () => boolean): void {
    let inspected = 0;
    for (const [key, set] of this.#keys) {
      if (over()) this.#keys.delete(key);
      else if (set.keep <= now && inspected < sweep) this.#keys.delete(key);
      else break;
      inspected += 1;
    }
  }
}
