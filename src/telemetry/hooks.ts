/**
 * The seams through which stores and adapters report what they do. Stores and
 * middleware call these hooks; the OpenTelemetry layer (src/telemetry/)
 * implements them. The no-op hooks cost one call each and allocate nothing.
 */

/** Hooks a store calls. Installed with `Store.instrument(hooks)`. */
export interface StoreHooks {
  /**
   * Called when a check enters the store, in the caller's async context:
   * synchronously inside `evaluate`, before its first `await`. Returns an
   * opaque token (the check's span context) that is handed back in {@link onBatch}.
   */
  captureContext(): unknown;
  /**
   * Called when one script call carrying `size` checks is sent. `contexts`
   * holds the tokens captured for those checks. `target` (optional) says
   * which server and command the call goes to, for the client span.
   * Returns a function to call once the call has settled, with the error if it failed.
   */
  onBatch(size: number, contexts: readonly unknown[], target?: BatchTarget): (error?: unknown) => void;
  /** Called when the local deny cache answered a check without a round trip. */
  onCacheHit(): void;
  /** Called with +1 when a check starts waiting on the store and -1 when it settles. */
  onPending(delta: number): void;
  /**
   * Called once per error the store raises, with its LimiterError code: once
   * per failed script call (not once per check in it), and once per check that
   * failed on its own (its deadline passed, no connection, an error reply in its slot).
   */
  onStoreError(code: string): void;
  /** Called once per change of the store's circuit breaker, with the new state (`closed`, `open`, `half-open`). */
  onBreakerChange(state: string): void;
  /**
   * Called with the number of checks just reported failed although their
   * script call had been sent and its reply was lost or late: Redis may have
   * applied them (taken their units; under-granting only).
   */
  onUnconfirmed?(count: number): void;
}

/**
 * Where a store's script call goes, reported with {@link StoreHooks.onBatch}
 * so the client span carries the database semantic-convention attributes.
 * Every field is optional; never put credentials or keys in any of them.
 */
export interface BatchTarget {
  /** The command sent, e.g. `EVALSHA` (`db.operation.name`). Default `EVALSHA`. */
  readonly operation?: string;
  /** The SHA1 digest of the Lua script run (`db.stored_procedure.name`). */
  readonly procedure?: string;
  /** Host name or address from the client configuration (`server.address`). */
  readonly serverAddress?: string;
  /** Server port (`server.port`). */
  readonly serverPort?: number;
  /** Database index selected on the connection, as a string (`db.namespace`). */
  readonly namespace?: string;
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
  onBreakerChange: noop,
  onUnconfirmed: noop,
};

/** HTTP hooks that do nothing. */
export const noopHttpHooks: HttpHooks = { onRequest: noop };
