/** An abortable timer promise, used by Limiter.wait. */
import { ErrorCodes, LimiterError } from './errors.js';

/** Resolves after `ms`; rejects with ERR_ABORTED as soon as `signal` aborts (the timer is cleared). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      clearTimeout(timer);
      reject(new LimiterError(ErrorCodes.ABORTED, 'wait was aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
  });
}
