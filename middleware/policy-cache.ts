/**
 * A small bounded cache of resolved policies with a time to live, so a
 * per-tenant lookup runs once per tenant per TTL instead of per request.
 * Concurrent misses for one key share a single resolver call; a failed
 * resolution is not cached. When full, the oldest entry is dropped.
 */

interface Entry<V> {
  /** performance.now() after which the entry is stale. */
  readonly expires: number;
  /** The value, or the pending resolution. */
  value: V | Promise<V>;
}

/** A bounded TTL cache whose misses are filled by an async loader. */
export class PolicyCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #ttl: number;
  readonly #max: number;

  /** @param ttl - ms an entry is reused; @param max - most entries held (>= 1) */
  constructor(ttl: number, max: number) {
    this.#ttl = ttl;
    this.#max = max;
  }

  /** Entries currently held (stale ones included until touched or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /** Returns the cached value for `key`, or loads, caches and returns it. */
  get(key: string, load: () => V | Promise<V>): V | Promise<V> {
    const now = performance.now();
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.expires > now) return hit.value;
    if (hit !== undefined) this.#entries.delete(key);
    const loaded = load();
    if (this.#ttl === 0) return loaded;
    const entry: Entry<V> = { expires: now + this.#ttl, value: loaded };
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
    if (loaded instanceof Promise) {
      loaded.then(
        (value) => {
          if (this.#entries.get(key) === entry) entry.value = value;
        },
        () => {
          if (this.#entries.get(key) === entry) this.#entries.delete(key);
        },
      );
    }
    return loaded;
  }

  /** Drops every entry. */
  clear(): void {
    this.#entries.clear();
  }
}
