/**
 * Namespaced storage keys: `<name>:<policy>:<limit>:<key>` with a scope when
 * the policy has one, each segment escaped so keys from different
 * middlewares, policies, scopes (tenants) or limits can never collide. The
 * Redis Cluster hash tag (`{...}`) covers the scope, else the key of a
 * single-limit policy, else the policy, so every key of one all-or-nothing
 * check lands in one slot. Overlong keys are replaced by their SHA-256.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, LimiterError } from '../src/errors.js';
import { MAX_KEY_LENGTH } from '../src/inputs.js';

/** The fixed parts around a request's key for one limit of one policy. */
export interface KeyShape {
  /** Text before the escaped key. */
  readonly prefix: string;
  /** Text after the escaped key. */
  readonly suffix: string;
}

const SEGMENT_SPECIAL = /[%:{}#]/g;
const KEY_SPECIAL = /[%{}#]/;
const KEY_SPECIAL_G = /[%{}#]/g;

function percent(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase()}`;
}

/** Escapes a name segment: `%`, `:`, `{`, `}` and `#` are percent-encoded. */
export function escapeSegment(segment: string): string {
  return segment.replace(SEGMENT_SPECIAL, percent);
}

/** Escapes the last segment (the request's key): `%`, `{`, `}` and `#`; a colon is harmless there. */
export function escapeKey(key: string): string {
  return KEY_SPECIAL.test(key) ? key.replace(KEY_SPECIAL_G, percent) : key;
}

/** Longest prefix + suffix accepted, leaving room for a hashed key. */
const MAX_SHAPE_LENGTH = MAX_KEY_LENGTH - 64;

/**
 * Builds the shape of one limit's keys. `compound` is true when the policy
 * checks several limits at once (they must share a Redis Cluster slot).
 */
export function keyShape(name: string, policy: string, scope: string | undefined, limit: string, compound: boolean): KeyShape {
  const n = escapeSegment(name);
  const p = escapeSegment(policy);
  const l = escapeSegment(limit);
  let shape: KeyShape;
  if (scope !== undefined) shape = { prefix: `${n}:${p}:{${escapeSegment(scope)}}:${l}:`, suffix: '' };
  else if (compound) shape = { prefix: `{${n}:${p}}:${l}:`, suffix: '' };
  else shape = { prefix: `${n}:${p}:${l}:{`, suffix: '}' };
  if (shape.prefix.length + shape.suffix.length > MAX_SHAPE_LENGTH) {
    throw new LimiterError(
      ErrorCodes.INVALID_OPTION,
      `the name, policy, scope and limit name together must stay under ${MAX_SHAPE_LENGTH} characters, got ${shape.prefix.length + shape.suffix.length}`,
    );
  }
  return shape;
}

/** The storage key of `key` for a limit of this shape; a key that would be too long is hashed (`#` + SHA-256). */
export function buildKey(shape: KeyShape, key: string): string {
  const full = shape.prefix + escapeKey(key) + shape.suffix;
  if (full.length <= MAX_KEY_LENGTH) return full;
  return `${shape.prefix}#${createHash('sha256').update(key).digest('base64url')}${shape.suffix}`;
}

/**
 * The one storage key of a scope-wide limit (a scoped policy without a key:
 * one bucket for the whole scope): the scoped shape without its key segment,
 * so it can never equal a per-key storage key of the same limit.
 */
export function scopeWideKey(shape: KeyShape): string {
  return shape.prefix.slice(0, -1) + shape.suffix;
}
