/**
 * Configuration warnings of the adapters, each with a stable code and sent
 * at most once per middleware through its `onWarning` handler: today, a
 * framework that trusts every proxy while a limit keys by client IP (any
 * client then picks its own bucket by sending `X-Forwarded-For`).
 */
import { readsClientIp } from './keys.js';
import type { NormalizedOptions } from './options.js';
import type { TollgateWarning } from './types.js';

/** Stable warning codes. */
export const WarningCodes = {
  /** The framework trusts every proxy and a limit keys by the client IP. */
  PERMISSIVE_TRUST_PROXY: 'WARN_PERMISSIVE_TRUST_PROXY',
} as const;

/** True when some limit of the middleware keys by the client IP (`ipKey()`, or `headerKey()` falling back to it). */
export function usesClientIp<Req, Res>(options: NormalizedOptions<Req, Res>): boolean {
  const policy = options.staticPolicy;
  if (policy === undefined) return readsClientIp(options.key);
  return policy.limits.some((l) => readsClientIp(l.key));
}

/** The warning for a trust-proxy `setting` that trusts every hop; `fix` says what to use instead. */
export function permissiveTrustProxy(setting: string, fix: string): TollgateWarning {
  return {
    code: WarningCodes.PERMISSIVE_TRUST_PROXY,
    message:
      `tollgate: ${setting} trusts every proxy, and this rate limit keys by client IP: any client can pick its own bucket ` +
      `by sending X-Forwarded-For. Trust only your proxies: ${fix}.`,
  };
}
