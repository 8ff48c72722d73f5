/**
 * Encodes checks into the KEYS/ARGV layout of the assembled script
 * (lua/prologue.lua documents it) and decodes its reply into per-check
 * outcomes. One call may carry a batch of checks.
 *
 * The script decides and writes; its reply carries only `now` and, per key,
 * the state it read with the verdict (for GCRA, the TAT with the verdict in
 * the sign). The figures a caller sees (granted, remaining, retryAfter,
 * resetAfter) are derived here from that state with the same algorithm (the
 * kind's twin: src/gcra.ts, src/kinds.ts), which must reach the script's
 * verdict: a disagreement (e.g. a stale script on the server) is an error.
 * Checks of rate items only travel in GCRA's compact encodings; a check with
 * an item of another kind travels as an "x" check of tagged items.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import { type TatState, evaluateGcra } from './gcra.js';
import { MAX_SAFE } from './intmath.js';
import { type EncodeTarget, type KindStates, evaluateCheck, isRateCheck, kindOf } from './kinds.js';
import type { AnyCheck, AnyOutcome, Check, CheckOutcome, RateItem } from './store.js';

/** KEYS and ARGV for one script call. */
export interface EncodedBatch {
  /** Every item's prefixed key, in order. */
  readonly keys: string[];
  /** ARGV as documented at the top of lua/prologue.lua. */
  readonly args: (string | number)[];
}

/**
 * True when every check of a call is a packed GCRA item (one rate item, take
 * n or nothing, n small enough to pack with any limit table the call can
 * have): such a call can run the packed-only script (src/lua.ts), and
 * {@link encodeBatch} packs every one of its checks.
 */
export function packedOnly(checks: readonly AnyCheck[]): boolean {
  const bound = MAX_SAFE / (checks.length + 1);
  for (const check of checks) {
    if (check.mode !== 'all' || check.items.length !== 1 || !isRateCheck(check)) return false;
    const only = check.items[0] as RateItem;
    if (!(only.cost < bound)) return false;
  }
  return true;
}

/**
 * True when every check of a call is a lone concurrency item (an acquire,
 * release or extend, which {@link encodeBatch} sends in its kind's "C", "R"
 * or "E" encoding): such a call can run the leases-only script (src/lua.ts).
 */
export function leasesOnly(checks: readonly AnyCheck[]): boolean {
  for (const check of checks) {
    const only = check.items.length === 1 ? check.items[0] : undefined;
    if (only?.kind !== 'concurrency') return false;
  }
  return checks.length > 0;
}

/** Finds or adds a (T, B) pair in the call's limit table; returns its 0-based index. */
function limitIndex(table: number[], interval: number, burst: number): number {
  for (let i = 0; i < table.length; i += 2) {
    if (table[i] === interval && table[i + 1] === burst) return i / 2;
  }
  table.push(interval, burst);
  return table.length / 2 - 1;
}

/**
 * Builds the script arguments for `checks`, in order. `now` is the client
 * clock reading in µs, or undefined to let the script read Redis `TIME`.
 */
export function encodeBatch(checks: readonly AnyCheck[], prefix: string, now: number | undefined): EncodedBatch {
  const keys: string[] = [];
  const table: number[] = [];
  // First pass: the limit table (its size L is needed to pack single items).
  const indexes: number[] = [];
  for (const check of checks) {
    for (const item of check.items) {
      keys.push(prefix + item.key);
      // Every item with a (T, B) pair enters the table here: L must be final before packing.
      indexes.push('interval' in item ? limitIndex(table, item.interval, item.burst) : -1);
    }
  }
  const L = table.length / 2;
  const body: (string | number)[] = [];
  const target: EncodeTarget = {
    args: body,
    limitIndex: (interval, burst) => limitIndex(table, interval, burst),
    now: now ?? Date.now() * 1000,
  };
  let k = 0;
  for (const check of checks) {
    if (!isRateCheck(check)) {
      const only = check.items.length === 1 ? check.items[0] : undefined;
      const kind = only && kindOf(only);
      if (only && kind?.encodeSingle) {
        kind.encodeSingle(only, body);
        k += 1;
        continue;
      }
      // Items of several kinds: an "x" check of tagged items (kinds are validated by the store).
      body.push('x', check.items.length);
      for (const item of check.items) kindOf(item)?.encode(item, target);
      k += check.items.length;
      continue;
    }
    const rate = check as Check<RateItem>;
    const first = rate.items[0];
    const index = indexes[k] ?? 0;
    if (check.mode === 'atMost' && check.items.length !== 1) {
      // Not expressible ("a" holds one item): sent with invalid costs, so the
      // script fails its slots and writes nothing while KEYS and ARGV stay
      // aligned for the checks after it; decodeCheck reports it.
      body.push('m', check.items.length);
      for (const _ of check.items) {
        body.push((indexes[k] ?? 0) + 1, -1);
        k += 1;
      }
    } else if (check.mode === 'atMost' && first) {
      body.push('a', index + 1, first.cost);
      k += 1;
    } else if (check.items.length === 1 && first && first.cost * L + L < MAX_SAFE) {
      body.push(first.cost * L + index);
      k += 1;
    } else {
      body.push('m', check.items.length);
      for (const item of rate.items) {
        body.push((indexes[k] ?? 0) + 1, item.cost);
        k += 1;
      }
    }
  }
  const args: (string | number)[] = [now === undefined ? '' : now, table.length / 2];
  for (const value of table) args.push(value);
  args.push(checks.length);
  for (const value of body) args.push(value);
  return { keys, args };
}

const DIFFERENT_VERDICT =
  'the tollgate script on the server reached a different verdict than this client: is a different tollgate version loaded under the same SHA?';

function malformed(what: string): LimiterError {
  return new LimiterError(ErrorCodes.STORE, `unexpected reply from the tollgate script: ${what}`);
}

function scriptError(error: Error): LimiterError {
  // The script's overflow reply is the caller's error (as in MemoryStore), not a store failure.
  const code = error.message.includes('must stay below 2^53') ? ErrorCodes.OVERFLOW : ErrorCodes.STORE;
  return new LimiterError(code, `Redis rejected the check: ${error.message}`, { cause: error });
}

/**
 * The TATs a check's reply entries carry, by key (read-only: the script has
 * written already). The first key is kept in fields, so a check of one item
 * (the common case) builds no map; a later record of a key replaces its TAT.
 */
class ReadTats implements TatState {
  #key: string | undefined;
  #tat = 0;
  #others: Map<string, number> | undefined;

  record(key: string, tat: number): void {
    if (this.#key === undefined || this.#key === key) {
      this.#key = key;
      this.#tat = tat;
    } else {
      (this.#others ??= new Map()).set(key, tat);
    }
  }

  get(key: string): number | undefined {
    return key === this.#key ? this.#tat : this.#others?.get(key);
  }

  set(): void {}
}

/**
 * Decodes one check from the reply entries `reply[offset + 1 ...]` (one per
 * item) at the reply's `now`; returns a LimiterError for an error reply.
 */
function decodeCheck(reply: readonly unknown[], offset: number, now: number, check: AnyCheck): AnyOutcome | LimiterError {
  if (!isRateCheck(check)) return decodeMixed(reply, offset, now, check);
  if (check.mode === 'atMost' && check.items.length !== 1) {
    return new LimiterError(ErrorCodes.INVALID_OPTION, `an "atMost" check takes exactly one item, got ${check.items.length}`);
  }
  const tats = new ReadTats();
  let verdict: boolean | undefined;
  for (let i = 0; i < check.items.length; i += 1) {
    const entry = reply[offset + 1 + i];
    if (entry instanceof Error) return scriptError(entry);
    if (typeof entry !== 'number' || !Number.isSafeInteger(entry)) return malformed(`entry ${offset + 1 + i} is ${typeof entry}`);
    const allowed = entry >= 0;
    if (verdict !== undefined && verdict !== allowed) return malformed('items of one check disagree on the verdict');
    verdict = allowed;
    const stored = allowed ? entry : -entry - 1;
    const key = (check.items[i] as { key: string }).key;
    if (stored > 0) tats.record(key, stored);
  }
  const result = evaluateGcra(check as Check<RateItem>, now, tats);
  if (result.allowed !== verdict) {
    return new LimiterError(ErrorCodes.STORE, DIFFERENT_VERDICT);
  }
  return { allowed: result.allowed, now, items: result.items, source: 'redis' };
}

/** {@link decodeCheck} for a check that mixes kinds: each kind reads its entries into a view, on which the twins decide. */
function decodeMixed(reply: readonly unknown[], offset: number, now: number, check: AnyCheck): AnyOutcome | LimiterError {
  const only = check.items.length === 1 && check.mode === 'all' ? check.items[0] : undefined;
  const single = only && kindOf(only);
  if (only && single?.decodeSingle) {
    // One item of a kind that reads its entry straight into the outcome (no view).
    const entry = reply[offset + 1];
    if (entry instanceof Error) return scriptError(entry);
    const outcome = single.decodeSingle(entry, only, now);
    if (outcome === null) return new LimiterError(ErrorCodes.STORE, DIFFERENT_VERDICT);
    if (typeof outcome === 'string') return malformed(`entry ${offset + 1}: ${outcome}`);
    return { allowed: outcome.allowed, now, items: [outcome], source: 'redis' };
  }
  // A view per kind present in the check (the state the script read, for the twins to decide on).
  const views: Record<string, unknown> = {};
  let verdict: boolean | undefined;
  for (let i = 0; i < check.items.length; i += 1) {
    const entry = reply[offset + 1 + i];
    if (entry instanceof Error) return scriptError(entry);
    const item = check.items[i] as AnyCheck['items'][number];
    const kind = kindOf(item);
    if (kind === undefined) return malformed(`entry ${offset + 1 + i} is for an unknown kind`);
    const name = item.kind ?? 'rate';
    const allowed = kind.read(entry, item, (views[name] ??= kind.view()), now);
    if (typeof allowed === 'string') return malformed(`entry ${offset + 1 + i}: ${allowed}`);
    if (verdict !== undefined && verdict !== allowed) return malformed('items of one check disagree on the verdict');
    verdict = allowed;
  }
  const result = evaluateCheck(check, now, views as unknown as KindStates);
  if (result.allowed !== verdict) return new LimiterError(ErrorCodes.STORE, DIFFERENT_VERDICT);
  return { allowed: result.allowed, now, items: result.items, source: 'redis' };
}

/** Decodes a whole batch reply into one outcome (or error) per check, in order. */
export function decodeBatch(reply: unknown, checks: readonly Check[]): (CheckOutcome | LimiterError)[];
export function decodeBatch(reply: unknown, checks: readonly AnyCheck[]): (AnyOutcome | LimiterError)[];
export function decodeBatch(reply: unknown, checks: readonly AnyCheck[]): (AnyOutcome | LimiterError)[] {
  let total = 0;
  for (const check of checks) total += check.items.length;
  if (!Array.isArray(reply) || reply.length !== total + 1 || typeof reply[0] !== 'number') {
    const error = malformed(`expected now and ${total} entries, got ${Array.isArray(reply) ? reply.length : typeof reply}`);
    return checks.map(() => error);
  }
  const now = reply[0];
  const out: (AnyOutcome | LimiterError)[] = [];
  let offset = 0;
  for (const check of checks) {
    try {
      out.push(decodeCheck(reply, offset, now, check));
    } catch (error) {
      out.push(error instanceof LimiterError ? error : malformed(String(error)));
    }
    offset += check.items.length;
  }
  return out;
}
