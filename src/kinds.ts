/**
 * Kinds of limit: the registry that lets one check mix them. Every kind is
 * one Lua file (lua/<kind>.lua, assembled into the one script by src/lua.ts)
 * and one TypeScript twin implementing {@link Kind}: how its items travel to
 * the script and back (RedisStore), and its algorithm on a state (both the
 * in-process store, on its real state, and the Redis codec, on the state the
 * script read, which derives the figures and confirms the script's verdict).
 * {@link evaluateCheck} evaluates a check of any mix, all-or-nothing.
 *
 * Adding a kind:
 * 1. lua/<kind>.lua registers its item tags in ITEMS (lua/prologue.lua says
 *    how); add the file to KIND_SOURCES in src/lua.ts.
 * 2. src/store.ts: its item type (with a `kind` tag) joins AnyItem, its
 *    outcome type joins AnyItemOutcome.
 * 3. src/<kind>.ts: its twin, a {@link Kind}; register it in KINDS below and
 *    its state in {@link KindStates} (MemoryStore holds the real one).
 * 4. Known-answer cases (test/cases/), the differential test, docs.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import { type LeaseState, concurrencyKind } from './concurrency-kind.js';
import { type TatState, evaluateGcra, rateKind } from './gcra.js';
import type {
  AdjustOutcome,
  AnyCheck,
  AnyItem,
  AnyItemOutcome,
  Check,
  CheckMode,
  ConcurrencyItem,
  ItemKind,
  LeaseOutcome,
  QuotaAdjustItem,
  QuotaItem,
  QuotaOutcome,
  RateAdjustItem,
  RateItem,
  RateOutcome,
} from './store.js';
import { type QuotaState, quotaKind } from './quota.js';
import { quotaAdjustKind, rateAdjustKind } from './settle.js';

/** One item's decision inside a check, before the check's verdict is known. */
export interface ItemDecision<O extends AnyItemOutcome = AnyItemOutcome> {
  /** The item's outcome when the check passes, or its denial. */
  readonly outcome: O;
  /** The write to make when every item of the check passed; undefined when nothing is written. */
  readonly write: (() => void) | undefined;
  /** The outcome reported when this item passed but another did not (nothing is written). */
  readonly unchanged: () => O;
}

/** The state each kind reads and writes, by kind. */
export interface KindStates {
  /** Rate limits: TATs by key. */
  readonly rate: TatState;
  /** Concurrency limits: lease sets by key. */
  readonly concurrency: LeaseState;
  /** Calendar quotas: one window's count by key. */
  readonly quota: QuotaState;
  /** Rate adjustments (src/settle.ts): the rate limits' TATs. */
  readonly rateAdjust: TatState;
  /** Quota adjustments (src/settle.ts): the quotas' counts. */
  readonly quotaAdjust: QuotaState;
}

/** Arguments of one script call being built: the ARGV body and the call's table of rate limits. */
export interface EncodeTarget {
  /** ARGV after the call header; an item pushes its tag and arguments. */
  readonly args: (string | number)[];
  /** The 0-based index of a (T, B) pair in the call's limit table. */
  limitIndex(interval: number, burst: number): number;
  /** The client's clock reading (µs) the call is built at: the client clock, else the process clock (the script may read Redis TIME). */
  readonly now: number;
}

/** A kind of limit (see the module comment). */
export interface Kind<I extends AnyItem, O extends AnyItemOutcome, S> {
  /** Redis: pushes the item as an item of an "x" check (its Lua tag, then its arguments). */
  encode(item: I, target: EncodeTarget): void;
  /** Redis, optional: pushes a check of this one item in a compact encoding of the kind's own (a CHECKS header in its Lua file). */
  encodeSingle?(item: I, args: (string | number)[]): void;
  /**
   * Redis: reads one reply entry of the item into `view` (the state the
   * script read at `now`, the reply's clock). Returns the check's verdict
   * the entry carries, or a message when the entry is malformed.
   */
  read(entry: unknown, item: I, view: S, now: number): boolean | string;
  /**
   * Redis, optional: the outcome of a check of this one item straight from
   * its reply entry (what {@link read} then {@link decide} on the view would
   * answer, without building the view); a message when the entry is
   * malformed, or null when the entry's verdict is not the twin's.
   */
  decodeSingle?(entry: unknown, item: I, now: number): O | string | null;
  /** An empty state for {@link read} to fill; its writes are no-ops. */
  view(): S;
  /**
   * Decides the item at `now` on `state`, after the items before it in the
   * same check (`pending`: one map per kind and check, by key, for the
   * kind's own use). Writes nothing; throws a LimiterError for input the
   * script would reject.
   */
  decide(item: I, now: number, state: S, pending: Map<string, unknown>): ItemDecision<O>;
  /** The outcome a failure policy reports: `open` (allowed) or `closed` (denied, retry after `retryUs`). */
  policy(item: I, mode: CheckMode, allowed: boolean, now: number, retryUs: number): O;
}

/** Every kind, by name (its item, outcome and state types). */
export const KINDS: {
  readonly rate: Kind<RateItem, RateOutcome, TatState>;
  readonly concurrency: Kind<ConcurrencyItem, LeaseOutcome, LeaseState>;
  readonly quota: Kind<QuotaItem, QuotaOutcome, QuotaState>;
  readonly rateAdjust: Kind<RateAdjustItem, AdjustOutcome, TatState>;
  readonly quotaAdjust: Kind<QuotaAdjustItem, AdjustOutcome, QuotaState>;
} = {
  rate: rateKind,
  concurrency: concurrencyKind,
  quota: quotaKind,
  rateAdjust: rateAdjustKind,
  quotaAdjust: quotaAdjustKind,
};

/** A kind as the generic code sees it. */
type AnyKind = Kind<AnyItem, AnyItemOutcome, unknown>;

/** The kind name of an item (`rate` when `kind` is left out). */
export function kindName(item: AnyItem): ItemKind {
  return item.kind ?? 'rate';
}

/** The kind of an item, or undefined for an unknown `kind`. */
export function kindOf(item: AnyItem): AnyKind | undefined {
  return (KINDS as Record<string, AnyKind | undefined>)[kindName(item)];
}

/** True for a rate item. */
export function isRate(item: AnyItem): item is RateItem {
  return item.kind === undefined || item.kind === 'rate';
}

/** True when every item of the check is a rate item (it then travels in GCRA's own encodings). */
export function isRateCheck(check: AnyCheck): check is Check<RateItem> {
  for (const item of check.items) if (!isRate(item)) return false;
  return true;
}

/** The result of {@link evaluateCheck}: the verdict and one outcome per item. */
export interface CheckResult {
  /** True when every item passed (and was written). */
  readonly allowed: boolean;
  /** One outcome per item, in order. */
  readonly items: AnyItemOutcome[];
}

/**
 * Evaluates a validated check of any mix of kinds at `now` on `states`,
 * all-or-nothing: every item is decided (in order, each seeing the earlier
 * ones), then written only when all passed. A check of rate items only is
 * GCRA's evaluation (src/gcra.ts), `atMost` included.
 */
export function evaluateCheck(check: AnyCheck, now: number, states: KindStates): CheckResult {
  if (isRateCheck(check)) return evaluateGcra(check as Check<RateItem>, now, states.rate);
  if (check.mode !== 'all') {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, 'an "atMost" check takes one rate item, got an item of another kind');
  }
  const only = check.items.length === 1 ? check.items[0] : undefined;
  const single = only && kindOf(only);
  if (only && single) {
    // One item, the common case: no per-kind bookkeeping.
    const d = single.decide(only, now, (states as unknown as Record<string, unknown>)[kindName(only)], new Map());
    if (d.outcome.allowed) d.write?.();
    return { allowed: d.outcome.allowed, items: [d.outcome] };
  }
  const pending = new Map<ItemKind, Map<string, unknown>>();
  const decided = check.items.map((item) => {
    const name = kindName(item);
    const kind = kindOf(item);
    if (kind === undefined) throw new LimiterError(ErrorCodes.INVALID_OPTION, `check item kind must be one of ${Object.keys(KINDS).join(', ')}, got ${JSON.stringify(name)}`);
    let own = pending.get(name);
    if (own === undefined) {
      own = new Map();
      pending.set(name, own);
    }
    return kind.decide(item, now, (states as unknown as Record<string, unknown>)[name], own);
  });
  if (decided.every((d) => d.outcome.allowed)) {
    for (const d of decided) d.write?.();
    return { allowed: true, items: decided.map((d) => d.outcome) };
  }
  return { allowed: false, items: decided.map((d) => (d.outcome.allowed ? d.unchanged() : d.outcome)) };
}

/** What a failure policy reports for one item (see {@link Kind.policy}). */
export function policyOutcome(item: AnyItem, mode: CheckMode, allowed: boolean, now: number, retryUs: number): AnyItemOutcome {
  const kind = kindOf(item);
  if (kind === undefined) throw new LimiterError(ErrorCodes.INVALID_OPTION, `check item kind ${JSON.stringify(kindName(item))} is unknown`);
  return kind.policy(item, mode, allowed, now, retryUs);
}
