/**
 * Encodes checks into the KEYS/ARGV layout of lua/gcra.lua and decodes its
 * reply into per-check outcomes. One call may carry a batch of checks.
 */
import { ErrorCodes, LimiterError } from './errors.js';
import type { Check, CheckOutcome, ItemOutcome } from './store.js';

/** KEYS and ARGV for one script call. */
export interface EncodedBatch {
  /** Every item's prefixed key, in order. */
  readonly keys: string[];
  /** ARGV as documented at the top of lua/gcra.lua. */
  readonly args: (string | number)[];
}

/**
 * Builds the script arguments for `checks`, in order. `now` is the client
 * clock reading in µs, or undefined to let the script read Redis `TIME`.
 */
export function encodeBatch(checks: readonly Check[], prefix: string, now: number | undefined): EncodedBatch {
  const keys: string[] = [];
  const args: (string | number)[] = [now === undefined ? '' : now, checks.length];
  for (const check of checks) {
    args.push(check.mode === 'atMost' ? 1 : 0, check.items.length);
    for (const item of check.items) {
      keys.push(prefix + item.key);
      args.push(item.interval, item.burst, item.cost);
    }
  }
  return { keys, args };
}

const FIELDS = 6;

function malformed(what: string): LimiterError {
  return new LimiterError(ErrorCodes.STORE, `unexpected reply from the tollgate script: ${what}`);
}

/** Decodes one check's reply entry; returns a LimiterError for an error reply. */
export function decodeCheck(entry: unknown, check: Check): CheckOutcome | LimiterError {
  if (entry instanceof Error) {
    // The script's overflow reply is the caller's error (as in MemoryStore), not a store failure.
    const code = entry.message.includes('must stay below 2^53') ? ErrorCodes.OVERFLOW : ErrorCodes.STORE;
    return new LimiterError(code, `Redis rejected the check: ${entry.message}`, { cause: entry });
  }
  if (!Array.isArray(entry) || entry.length !== 2 + FIELDS * check.items.length) {
    return malformed(`expected ${2 + FIELDS * check.items.length} fields, got ${Array.isArray(entry) ? entry.length : typeof entry}`);
  }
  const values = entry as number[];
  const items: ItemOutcome[] = [];
  for (let i = 0; i < check.items.length; i += 1) {
    const o = 2 + FIELDS * i;
    items.push({
      allowed: values[o] === 1,
      granted: Number(values[o + 1]),
      remaining: Number(values[o + 2]),
      retryAfter: Number(values[o + 3]),
      resetAfter: Number(values[o + 4]),
      tat: Number(values[o + 5]),
    });
  }
  return { allowed: values[0] === 1, now: Number(values[1]), items, source: 'redis' };
}

/** Decodes a whole batch reply into one outcome (or error) per check. */
export function decodeBatch(reply: unknown, checks: readonly Check[]): (CheckOutcome | LimiterError)[] {
  if (!Array.isArray(reply) || reply.length !== checks.length) {
    const error = malformed(`expected ${checks.length} check replies`);
    return checks.map(() => error);
  }
  return checks.map((check, i) => decodeCheck(reply[i], check));
}
