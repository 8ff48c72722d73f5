/**
 * The seams through which stores and adapters report what they do. Stores and
 * middleware call these hooks; the OpenTelemetry layer (src/telemetry/)
 * implements them. The no-op hooks cost one call each and allocate nothing.
 */

/** Hooks a store calls. Installed with `Store.instrument(hooks)`. */
export interface StoreHooks {
  /**
   * Called when a check enters the store, in the caller's async context.
   * Returns an opaque token (e.g. the active trace context) that is handed back in {@link onBatch}.
   */
  captureContext(): unknown;
  /**
   * Called when one script call carrying `size` checks is sent. `contexts`
   * holds the tokens captured for those checks. Returns a function to call
   * once the call has settled, with the error if it failed.
   */
  onBatch(size: number, contexts: readonly unknown[]): (error?: unknown) => void;
  /** Called when the local deny cache answered a check without a round trip. */
  onCacheHit(): void;
  /** Called with +1 when a check starts waiting on the store and -1 when it settles. */
  onPending(delta: number): void;
  /** Called once per store error, with its LimiterError code. */
  onStoreError(code: string): void;
}

/** Result of an HTTP request seen by the middleware, modelled on `aspnetcore.rate_limiting.requests`. */
export type HttpResult = 'allowed' | 'denied' | 'shadow_denied' | 'skipped' | 'error';

/** Hooks the HTTP middleware calls. */
export interface HttpHooks {
  /** Called once per request the middleware handled, with the policy name (or `"default"`). */
  onRequest(result: HttpResult, policy: string): void;
}

const noop = (): void => undefined;

/** Store hooks that do nothing. */
export const noopStoreHooks: StoreHooks = {
  captureContext: () => undefined,
  onBatch: () => noop,
  onCacheHit: noop,
  onPending: noop,
  onStoreError: noop,
};

/** HTTP hooks that do nothing. */
export const noopHttpHooks: HttpHooks = { onRequest: noop };
