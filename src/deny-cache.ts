/**
 * The local deny cache (SPEC section 8): answers, without a round trip,
 * checks that Redis would certainly deny, and exactly as Redis would.
 *
 * Why it is exact: a denial writes nothing, and a write to a key needs the
 * key to have room for at least one unit (`now >= TAT + T - tau`). So once
 * Redis has reported a key's TAT, and for as long as the key is *full* (no
 * room for even one unit: `now < TAT + T - tau`), nobody can have written
 * the key since: its TAT is still exactly the reported one (barring a reset,
 * or a writer using a different limit for the same key). The cache only
 * answers checks whose every item is full in that sense (with at least one
 * item taking units); it then knows each item's TAT exactly, and every field
 * of Redis's answer follows. Checks on keys with some room left go to Redis.
 *
 * Time: with a client clock (`now` option), the cache reads that clock and
 * compares directly. With Redis `TIME`, the server's clock at a later local
 * (monotonic) instant is bounded from both sides by the request's send and
 * reply times, widened by a clock-rate allowance: fullness is judged on the
 * upper bound (so a local denial is certain), and the reported times on the
 * lower bound (so `retryAfter` is never earlier than Redis's).
 *
 * Bounded: at most `maxEntries` keys; O(1) per lookup, insert and eviction
 * (a Map in insertion order; the oldest entry is evicted first).
 */
import { decideItem } from './gcra.js';
import { isRateCheck } from './kinds.js';
import type { AnyCheck, AnyOutcome, Check, CheckItem, CheckOutcome, ItemOutcome } from './store.js';

/** How a reply's server time maps to local time: the send and reply instants, in local µs. */
export interface TimeAnchor {
  /** The `now` the script evaluated at (server or client clock, µs). */
  readonly serverNow: number;
  /** Local time (µs) just before the call was sent. */
  readonly sentAt: number;
  /** Local time (µs) when the reply arrived. */
  readonly receivedAt: number;
}

/** How uncertain the local-to-server time mapping is. */
export interface ClockUncertainty {
  /** Relative rate difference allowed between the two clocks (e.g. 0.0005 = 500 ppm). */
  readonly drift: number;
  /** Absolute slack in µs for rounding of both clocks. */
  readonly slack: number;
}

/** A client clock read directly: no uncertainty. */
export const EXACT_CLOCK: ClockUncertainty = { drift: 0, slack: 0 };

/** Redis TIME against the local monotonic clock: 500 ppm rate allowance, 2 µs rounding. */
export const SERVER_CLOCK: ClockUncertainty = { drift: 0.0005, slack: 2 };

interface Entry {
  readonly tat: number;
  readonly anchor: TimeAnchor;
}

/**
 * Redis's answer for an item of a certainly denied check whose key is full at
 * `now` (so its TAT is above `now`): the shared GCRA decision, which for a
 * full key takes nothing and reports no whole unit left.
 */
function denied(mode: Check['mode'], item: CheckItem, tat: number, now: number): ItemOutcome {
  return decideItem(mode === 'atMost', item, tat, now).outcome;
}

/** A bounded, exact cache of keys that are full, answering certain denials locally. */
export class DenyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #suppressed = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #clock: ClockUncertainty;

  /** @param maxEntries - most keys held (>= 1); @param clock - how uncertain local time is */
  constructor(maxEntries: number, clock: ClockUncertainty) {
    this.#maxEntries = maxEntries;
    this.#clock = clock;
  }

  /** Number of keys held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The most keys held at once. */
  get maxEntries(): number {
    return this.#maxEntries;
  }

  /**
   * Records what Redis reported for `key` (its TAT at `anchor.serverNow`),
   * checked with emission interval `interval` and tolerance `tau`: kept
   * while the key is full, dropped otherwise.
   */
  record(key: string, tat: number, interval: number, tau: number, anchor: TimeAnchor): void {
    const entries = this.#entries;
    if (tat + interval - tau <= anchor.serverNow || this.#suppressed.has(key)) {
      if (entries.size > 0) entries.delete(key);
      return;
    }
    entries.delete(key); // re-insert at the young end
    entries.set(key, { tat, anchor });
    if (entries.size > this.#maxEntries) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
  }

  /**
   * Answers `check` at local time `local` (µs, in the clock the anchors use)
   * when Redis would certainly deny it; undefined when Redis must decide.
   */
  answer(check: AnyCheck, local: number): AnyOutcome | undefined {
    // Only rate items are exact to answer locally (other kinds change state in ways this process cannot see).
    if (!isRateCheck(check)) return undefined;
    const { items } = check;
    if (items.length === 1) return this.#answerOne(check, items[0] as CheckItem, local);
    const entries = this.#entries;
    let upper = Infinity; // the server's now is certainly below this
    let lower = -Infinity; // ... and certainly at or above this
    let takes = false;
    for (const item of items) {
      const entry = entries.get(item.key);
      if (entry === undefined) return undefined;
      const up = this.#upper(entry.anchor, local);
      if (up < upper) upper = up;
      const low = this.#lower(entry.anchor, local);
      if (low > lower) lower = low;
      if (item.cost > 0) takes = true;
    }
    if (!takes) return undefined; // a pure peek is always allowed: Redis answers it
    for (const item of items) {
      const { tat } = entries.get(item.key) as Entry;
      const T = item.interval;
      const tau = T * item.burst;
      // Full: no room for one unit even at the latest possible server time.
      if (upper >= tat + T - tau) return undefined;
      // A peek item (cost 0) in a compound check: Redis reports it allowed
      // unless its TAT lies beyond a whole tolerance; it must be certain.
      if (item.cost === 0 && !(lower >= tat - tau || upper < tat - tau)) return undefined;
    }
    const now = lower;
    const outcomes: ItemOutcome[] = items.map((item) => denied(check.mode, item, (entries.get(item.key) as Entry).tat, now));
    return { allowed: false, now, items: outcomes, source: 'cache' };
  }

  /** {@link answer} for the common single-item check: one lookup, no intermediate arrays. */
  #answerOne(check: Check, item: CheckItem, local: number): CheckOutcome | undefined {
    if (item.cost <= 0) return undefined; // a peek is always allowed: Redis answers it
    const entry = this.#entries.get(item.key);
    if (entry === undefined) return undefined;
    const { tat, anchor } = entry;
    // Full: no room for one unit even at the latest possible server time.
    if (this.#upper(anchor, local) >= tat + item.interval - item.interval * item.burst) return undefined;
    const now = this.#lower(anchor, local);
    return { allowed: false, now, items: [denied(check.mode, item, tat, now)], source: 'cache' };
  }

  /** The latest the server's clock can read at local time `local`. */
  #upper(anchor: TimeAnchor, local: number): number {
    const since = local > anchor.sentAt ? local - anchor.sentAt : 0;
    return anchor.serverNow + since + Math.ceil(since * this.#clock.drift) + this.#clock.slack;
  }

  /** The earliest the server's clock can read at local time `local`. */
  #lower(anchor: TimeAnchor, local: number): number {
    const since = local > anchor.receivedAt ? local - anchor.receivedAt : 0;
    const elapsed = since - Math.ceil(since * this.#clock.drift) - this.#clock.slack;
    return anchor.serverNow + (elapsed > 0 ? elapsed : 0);
  }

  /** Forgets `keys` and ignores reports about them until {@link release} (a reset is under way). */
  suppress(keys: readonly string[]): void {
    for (const key of keys) {
      this.#entries.delete(key);
      this.#suppressed.set(key, (this.#suppressed.get(key) ?? 0) + 1);
    }
  }

  /** Ends a {@link suppress}: forgets `keys` again and accepts reports about them. */
  release(keys: readonly string[]): void {
    for (const key of keys) {
      this.#entries.delete(key);
      const count = this.#suppressed.get(key) ?? 0;
      if (count <= 1) this.#suppressed.delete(key);
      else this.#suppressed.set(key, count - 1);
    }
  }

  /** Forgets every key. */
  clear(): void {
    this.#entries.clear();
  }
}
