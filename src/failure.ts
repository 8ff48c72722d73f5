/**
 * The store-failure policy (SPEC section 10): when the store is unreachable,
 * past its deadline or answers an error, a check is allowed (`open`), denied
 * (`closed`), decided in-process (`local`) or rejected (`throw`). A store
 * that guards itself (it has `health()`, e.g. the RedisStore's circuit
 * breaker) fails fast while it is down, so every check is sent to it. Around
 * any other store, the non-throwing policies answer without trying it for a
 * cooldown after a failure, so a dead store does not cost every request a
 * full deadline.
 */
import { ErrorCodes, type ErrorCode, type LimiterError, toStoreError } from './errors.js';
import { processClock } from './clock.js';
import { policyOutcome } from './kinds.js';
import { MemoryStore } from './memory-store.js';
import { type AnyCheck, type AnyOutcome, type Store, TYPED_REJECTIONS } from './store.js';

const STORE_FAILURES: readonly ErrorCode[] = [ErrorCodes.STORE, ErrorCodes.TIMEOUT, ErrorCodes.POOL_TIMEOUT, ErrorCodes.CLOSED];

/** True for errors of the store itself (not of the caller's input or clock), which a failure policy may absorb. */
export function isStoreFailure(error: LimiterError): boolean {
  return STORE_FAILURES.includes(error.code);
}

/** store.evaluate, with a synchronous throw (from a third-party store) turned into a rejection. */
function attempt(check: AnyCheck, store: Store): Promise<AnyOutcome> {
  try {
    return store.evaluate(check);
  } catch (error) {
    return Promise.reject(error);
  }
}

function rethrowTyped(error: unknown): never {
  throw toStoreError(error);
}

/** What a limiter does when its store fails. */
export type FailurePolicy = 'throw' | 'open' | 'closed' | 'local';

/** A store outcome produced by a failure policy, with the policy and the error that triggered it. */
export interface FailureOutcome extends AnyOutcome {
  /** The policy that decided. */
  readonly reason: Exclude<FailurePolicy, 'throw'>;
  /** The store error behind it (the latest one during a cooldown). */
  readonly error: LimiterError;
}

/** Applies a {@link FailurePolicy} around store calls. */
export class FailureHandler {
  readonly #policy: FailurePolicy;
  readonly #cooldownMs: number;
  #local: MemoryStore | undefined;
  #failedUntil = 0;
  #lastError: LimiterError | undefined;

  /** @param policy - what to do on failure; @param cooldownMs - ms to skip the store after a failure */
  constructor(policy: FailurePolicy, cooldownMs: number) {
    this.#policy = policy;
    this.#cooldownMs = cooldownMs;
  }

  /** The configured policy. */
  get policy(): FailurePolicy {
    return this.#policy;
  }

  /** The in-process store the `local` policy decides with (where its leases must be released). */
  get local(): MemoryStore {
    return (this.#local ??= new MemoryStore());
  }

  /**
   * Evaluates `check` on `store`, or answers by policy when it fails (or,
   * around a store without `health()`, while cooling down after a failure).
   */
  run(check: AnyCheck, store: Store): Promise<AnyOutcome> {
    if (this.#policy === 'throw') {
      return (store as { [TYPED_REJECTIONS]?: true })[TYPED_REJECTIONS] === true ? store.evaluate(check) : attempt(check, store).catch(rethrowTyped);
    }
    if (this.#lastError && performance.now() < this.#failedUntil && store.health === undefined) {
      return Promise.resolve(this.#decide(check, this.#lastError));
    }
    return attempt(check, store).then(
      (outcome) => {
        this.#lastError = undefined;
        return outcome;
      },
      (error: unknown) => {
        const typed = toStoreError(error);
        if (!isStoreFailure(typed)) throw typed;
        this.#lastError = typed;
        this.#failedUntil = performance.now() + this.#cooldownMs;
        return this.#decide(check, typed);
      },
    );
  }

  #decide(check: AnyCheck, error: LimiterError): FailureOutcome {
    const now = processClock();
    switch (this.#policy) {
      case 'local': {
        return { ...this.local.evaluateSync(check), reason: 'local', error };
      }
      case 'open':
        return {
          allowed: true,
          now,
          source: 'memory',
          reason: 'open',
          error,
          items: check.items.map((item) => policyOutcome(item, check.mode, true, now, 0)),
        };
      default:
        return {
          allowed: false,
          now,
          source: 'memory',
          reason: 'closed',
          error,
          items: check.items.map((item) => policyOutcome(item, check.mode, false, now, Math.max(1, this.#cooldownMs) * 1000)),
        };
    }
  }
}
