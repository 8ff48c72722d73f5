/**
 * Calling user-supplied functions (key, cost, policy, policyKey, skip,
 * handler, onError): a synchronous throw or a rejection becomes a
 * LimiterError with code ERR_CALLBACK naming the option and carrying the
 * original error as `cause`, so nothing a user function does escapes the
 * adapters' typed error path or becomes an unhandled rejection.
 */
import { ErrorCodes, LimiterError } from '../src/errors.js';
import type { MaybePromise } from './types.js';

/** True when `value` is a promise or another thenable. */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}

/** The typed error for a user function `option` that threw or rejected with `error`. */
export function callbackError(option: string, error: unknown): LimiterError {
  // The message names the option only: the cause (the user's error) stays out of anything a default handler might render.
  return new LimiterError(ErrorCodes.CALLBACK, `tollgate: the "${option}" function threw or rejected (the error is this error's cause)`, { cause: error });
}

/**
 * Calls `fn(arg)` once. A synchronous throw is rethrown as ERR_CALLBACK; a
 * returned promise is turned into one that rejects with ERR_CALLBACK.
 */
export function invoke<A, T>(option: string, fn: (arg: A) => MaybePromise<T>, arg: A): T | Promise<T> {
  let value: T | PromiseLike<T>;
  try {
    value = fn(arg);
  } catch (error) {
    throw callbackError(option, error);
  }
  if (!isThenable(value)) return value;
  return Promise.resolve(value).catch((error: unknown) => {
    throw callbackError(option, error);
  });
}
