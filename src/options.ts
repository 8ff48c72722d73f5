/**
 * Validation helpers for constructor and method options: each throws a
 * LimiterError with code ERR_INVALID_OPTION naming the option, the value
 * and what is allowed.
 */
import { ErrorCodes, LimiterError, describe } from './errors.js';

/** Throws unless `value` is undefined or an integer in [min, max]; returns it or the fallback. */
export function integerOption(owner: string, name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} option "${name}" must be an integer ${range}, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is undefined or a finite number in [min, max]; returns it or the fallback. */
export function numberOption(owner: string, name: string, value: unknown, fallback: number, min: number, max = Number.MAX_VALUE): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} option "${name}" must be a finite number >= ${min}, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is undefined or one of `allowed`; returns it or the fallback. */
export function enumOption<T extends string>(owner: string, name: string, value: unknown, fallback: T, allowed: readonly T[]): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new LimiterError(
      ErrorCodes.INVALID_OPTION,
      `${owner} option "${name}" must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/** Throws unless `options` is undefined or a plain object. */
export function objectOption(owner: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${owner} options must be an object, got ${describe(options)}`);
  }
  return options as Record<string, unknown>;
}

/** Throws unless `value` is undefined or a plain object (`allowed` says what else the option takes); returns it or `{}`. */
export function optionalObject(what: string, value: unknown, allowed: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `${what} must be ${allowed}, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}
