/**
 * The concurrency kind of src/kinds.ts, the TypeScript twin of
 * lua/concurrency.lua: at most `max` leases of a key held at once, each
 * expiring `ttl` µs after it was taken or renewed. The in-process store runs
 * it on its lease sets (src/lease-sets.ts); the Redis codec runs it on the
 * state the script read (count and oldest expiry) to derive the reported
 * figures and confirm the script's verdict.
 */
import type { ItemDecision, Kind } from './kinds.js';
import type { AcquireItem, CheckMode, ConcurrencyItem, LeaseOutcome } from './store.js';

/** A key's held leases at `now`, after removing the expired ones. */
export interface LeaseRead {
  /** Leases held (expiry > now). */
  readonly count: number;
  /** The earliest expiry among them, µs; 0 when none (or, in a reply view, when the script did not need it). */
  readonly oldest: number;
  /** Leases removed as expired by this read (0 when the key was already read in the same check). */
  readonly expired: number;
}

/** Storage the concurrency algorithm reads and writes: lease sets by key. */
export interface LeaseState {
  /** The held leases of `key` at `now`; removes the expired ones (and counts them, once). */
  read(key: string, now: number): LeaseRead;
  /** True when lease `lease` of `key` is held at `now` (its expiry is after now). */
  holds(key: string, lease: string, now: number): boolean;
  /** True when lease `lease` is still in `key`'s set at `now`: held, or expired but not yet removed. */
  has(key: string, lease: string, now: number): boolean;
  /**
   * Adds (or renews) lease `lease` of `key`, expiring at `expiresAt` µs; the
   * key (with leases that expire unreleased) is then kept at least until
   * `keepFor` µs past that expiry.
   */
  put(key: string, lease: string, expiresAt: number, keepFor: number): void;
  /** Removes lease `lease` of `key`. */
  remove(key: string, lease: string): void;
}

/** What earlier items of one check took from a key. */
interface Pending {
  taken: number;
  oldest: number;
}

const NOTHING: LeaseOutcome = { kind: 'concurrency', allowed: false, granted: 0, remaining: 0, retryAfter: 0, resetAfter: 0, inFlight: 0, expiresAt: 0, expired: 0 };

/** The outcome of a release or an extend: whether the lease was held, its new expiry, leases found expired. */
function leaseOp(held: boolean, expiresAt: number, expired: number): LeaseOutcome {
  return { ...NOTHING, allowed: held, expiresAt: held ? expiresAt : 0, expired };
}

/**
 * The outcome of an acquire that found `held` leases of the key (`read.count`
 * in the store plus those earlier items of the check took): allowed below
 * the limit, with `resetAfter` the lease's ttl; when full, `retryAfter` and
 * `resetAfter` say when the oldest lease frees itself (`oldest`, µs).
 */
function acquireOutcome(item: AcquireItem, now: number, read: LeaseRead, held: number, oldest: number): LeaseOutcome {
  if (held >= item.max) {
    const wait = oldest - now;
    return { ...NOTHING, retryAfter: wait, resetAfter: wait, inFlight: held, expired: read.expired };
  }
  return {
    kind: 'concurrency',
    allowed: true,
    granted: 1,
    remaining: item.max - held - 1,
    retryAfter: 0,
    resetAfter: item.ttl,
    inFlight: held + 1,
    expiresAt: now + item.ttl,
    expired: read.expired,
  };
}

/**
 * Decides an acquire on the key's read state and what earlier items of the
 * check took (see {@link acquireOutcome}).
 */
function decideAcquire(item: AcquireItem, now: number, state: LeaseState, pending: Map<string, unknown>): ItemDecision<LeaseOutcome> {
  const read = state.read(item.key, now);
  const before = pending.get(item.key) as Pending | undefined;
  const held = read.count + (before?.taken ?? 0);
  const unchanged = (): LeaseOutcome => ({ ...NOTHING, allowed: true, remaining: Math.max(0, item.max - read.count), inFlight: read.count, expired: read.expired });
  // Full: a lease frees itself when the oldest expires (one taken earlier in this check, when none was held).
  const outcome = acquireOutcome(item, now, read, held, read.count > 0 ? read.oldest : (before?.oldest ?? now));
  if (!outcome.allowed) return { outcome, write: undefined, unchanged };
  const { expiresAt } = outcome;
  pending.set(item.key, { taken: held - read.count + 1, oldest: before === undefined ? expiresAt : Math.min(before.oldest, expiresAt) });
  return { outcome, write: () => state.put(item.key, item.lease, expiresAt, item.ttl), unchanged };
}

/** 2^26: an allowed acquire's entry may be the integer count * 2^26 + expired (lua/concurrency.lua). */
const PACK = 67_108_864;

/** An acquire entry of the reply, { verdict, count, oldest, expired } (or its one-integer form), or a message. */
function acquireEntry(entry: unknown): readonly [number, number, number, number] | string {
  if (typeof entry === 'number') {
    if (!isCount(entry)) return `a packed acquire entry must be an integer >= 0, got ${entry}`;
    return [1, Math.floor(entry / PACK), 0, entry % PACK];
  }
  if (!Array.isArray(entry) || entry.length !== 4 || !entry.every(isCount) || !isVerdict(entry[0])) {
    return 'an acquire entry must be { verdict, count, oldest, expired }';
  }
  return entry as [number, number, number, number];
}

/** A read-only lease state filled from a reply (see Kind.view): what the script read, per key and per lease. */
class ReplyView implements LeaseState {
  readonly #reads = new Map<string, { read: LeaseRead; seen: boolean }>();
  readonly #held = new Set<string>();

  record(key: string, read: LeaseRead): void {
    const known = this.#reads.get(key);
    if (known === undefined) this.#reads.set(key, { read, seen: false });
    else if (known.read.oldest === 0 && read.oldest !== 0) known.read = { ...known.read, oldest: read.oldest };
  }

  hold(key: string, lease: string): void {
    this.#held.add(`${key}\u0000${lease}`);
  }

  read(key: string): LeaseRead {
    const known = this.#reads.get(key);
    if (known === undefined) return { count: 0, oldest: 0, expired: 0 };
    // The script counts expired leases at the key's first read in a check only.
    const read = known.seen ? { ...known.read, expired: 0 } : known.read;
    known.seen = true;
    return read;
  }

  holds(key: string, lease: string): boolean {
    return this.#held.has(`${key}\u0000${lease}`);
  }

  has(key: string, lease: string): boolean {
    return this.holds(key, lease);
  }

  put(): void {}

  remove(): void {}
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isVerdict = (v: unknown): boolean => v === 0 || v === 1;
/** A release or extend status: 1 done, 0 not held, 2 held but the check was denied. */
const isStatus = (v: unknown): v is 0 | 1 | 2 => v === 0 || v === 1 || v === 2;

/** The concurrency kind: "c"/"C" (acquire), "r"/"R" (release), "e"/"E" (extend) of lua/concurrency.lua. */
export const concurrencyKind: Kind<ConcurrencyItem, LeaseOutcome, LeaseState> = {
  encode(item, target) {
    if (item.op === 'acquire') target.args.push('c', item.max, item.ttl, item.lease);
    else if (item.op === 'release') target.args.push('r', item.lease);
    else target.args.push('e', item.lease, item.ttl);
  },
  encodeSingle(item, args) {
    if (item.op === 'acquire') args.push('C', item.max, item.ttl, item.lease);
    else if (item.op === 'release') args.push('R', item.lease);
    else args.push('E', item.lease, item.ttl);
  },
  read(entry, item, view) {
    const v = view as ReplyView;
    if (item.op !== 'acquire') {
      if (!isStatus(entry)) return `a ${item.op} entry must be 0, 1 or 2, got ${typeof entry}`;
      if (entry !== 0) v.hold(item.key, item.lease);
      return entry === 1;
    }
    const read = acquireEntry(entry);
    if (typeof read === 'string') return read;
    const [verdict, count, oldest, expired] = read;
    v.record(item.key, { count, oldest, expired });
    return verdict === 1;
  },
  decodeSingle(entry, item, now) {
    if (item.op !== 'acquire') {
      // A lone release or extend: 1 when the lease was there (and is removed or renewed).
      if (entry !== 0 && entry !== 1) return `a lone ${item.op} entry must be 0 or 1, got ${typeof entry === 'number' ? entry : typeof entry}`;
      return leaseOp(entry === 1, item.op === 'extend' ? now + item.ttl : 0, 0);
    }
    const read = acquireEntry(entry);
    if (typeof read === 'string') return read;
    const [verdict, count, oldest, expired] = read;
    const outcome = acquireOutcome(item, now, { count, oldest, expired }, count, count > 0 ? oldest : now);
    return outcome.allowed === (verdict === 1) ? outcome : null;
  },
  view: () => new ReplyView(),
  decide(item, now, state, pending) {
    if (item.op === 'acquire') return decideAcquire(item, now, state, pending);
    if (item.op === 'release') {
      // A release removes its lease if it is still there (held, or a late release of an expired one).
      const present = state.has(item.key, item.lease, now);
      const outcome = leaseOp(present, 0, 0);
      return { outcome, write: present ? () => state.remove(item.key, item.lease) : undefined, unchanged: () => outcome };
    }
    const held = state.holds(item.key, item.lease, now);
    const expiresAt = now + item.ttl;
    return {
      outcome: leaseOp(held, expiresAt, 0),
      write: held ? () => state.put(item.key, item.lease, expiresAt, item.ttl) : undefined,
      unchanged: () => leaseOp(held, 0, 0),
    };
  },
  policy(item, _mode: CheckMode, allowed, now, retryUs) {
    if (item.op !== 'acquire') return leaseOp(allowed, item.op === 'extend' ? now + item.ttl : 0, 0);
    if (!allowed) return { ...NOTHING, retryAfter: retryUs, resetAfter: retryUs };
    // Allowed by policy: a lease that no store holds (releasing it does nothing).
    return { ...NOTHING, allowed: true, granted: 1, remaining: item.max - 1, resetAfter: item.ttl, inFlight: 1, expiresAt: now + item.ttl };
  },
};
