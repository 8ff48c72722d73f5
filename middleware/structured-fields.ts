/**
 * A tiny serializer for the parts of RFC 9651 (Structured Field Values for
 * HTTP) that the rate-limit headers use: lists of items whose bare item is a
 * string, with integer parameters. Every function throws ERR_INVALID_OPTION
 * on input RFC 9651 cannot represent, so a header is valid or never written.
 */
import { ErrorCodes, LimiterError, describe } from '../src/errors.js';

/** Largest magnitude of an sf-integer (RFC 9651 section 3.3.1: at most 15 digits). */
export const SF_INTEGER_MAX = 999_999_999_999_999;

/** True when every character of `value` is printable ASCII (%x20-7E), as sf-string requires. */
export function isSfStringSafe(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Serializes an sf-string (RFC 9651 section 4.1.6): quoted, with `"` and `\` escaped. */
export function serializeString(value: string): string {
  if (typeof value !== 'string' || !isSfStringSafe(value)) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `a structured-field string must be printable ASCII (0x20-0x7E), got ${describe(value)}`);
  }
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** Serializes an sf-integer (RFC 9651 section 4.1.4): an integer of at most 15 digits. */
export function serializeInteger(value: number): string {
  if (!Number.isInteger(value) || Math.abs(value) > SF_INTEGER_MAX) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `a structured-field integer must be an integer within ±${SF_INTEGER_MAX}, got ${describe(value)}`);
  }
  return String(value);
}

/** Clamps a non-negative count into the sf-integer range (e.g. a burst beyond 10^15). */
export function clampInteger(value: number): number {
  return value > SF_INTEGER_MAX ? SF_INTEGER_MAX : value;
}

const KEY = /^[a-z*][a-z0-9_\-.*]*$/;

/** Serializes a parameter key (RFC 9651 section 4.1.1.3): lowercase letter or `*`, then lcalpha, digits, `_-.*`. */
export function serializeKey(key: string): string {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `a structured-field key must match [a-z*][a-z0-9_.*-]*, got ${describe(key)}`);
  }
  return key;
}

/** Serializes one list item: a string bare item followed by integer parameters, in the order given. */
export function serializeStringItem(value: string, params: readonly (readonly [string, number])[]): string {
  let out = serializeString(value);
  for (const [key, n] of params) out += `;${serializeKey(key)}=${serializeInteger(n)}`;
  return out;
}

/** Serializes an sf-list (RFC 9651 section 4.1.1) from already serialized members. */
export function serializeList(members: readonly string[]): string {
  return members.join(', ');
}
