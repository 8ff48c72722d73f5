/**
 * Key helpers: functions that pick what a limit counts against. The client
 * IP comes from the framework (`req.ip`, which applies its trusted-proxy
 * settings); these helpers never read `X-Forwarded-For` themselves.
 */
import { ErrorCodes, LimiterError, describe } from '../src/errors.js';
import { integerOption, objectOption } from '../src/options.js';
import { groupIp } from './ip.js';
import type { KeyFunction } from './types.js';

/** The request fields the key helpers read; both Express and Fastify requests have them. */
export interface KeyedRequest {
  /** Client address as the framework determined it (trusted proxies applied). */
  readonly ip?: string | undefined;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

const CLIENT_IP = Symbol('tollgate.readsClientIp');

/** Marks a key function as keying by the client IP (for the permissive trust-proxy warning). */
function markClientIp<F extends object>(fn: F): F {
  (fn as Record<symbol, unknown>)[CLIENT_IP] = true;
  return fn;
}

/** True when `fn` was built by {@link ipKey} (or {@link headerKey} with an IP fallback): its buckets follow `req.ip`. */
export function readsClientIp(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[CLIENT_IP] === true;
}

/** Options of {@link ipKey}. */
export interface IpKeyOptions {
  /** IPv6 addresses sharing this many leading bits share a key. Default 64. */
  readonly ipv6Subnet?: number;
  /** IPv4 addresses sharing this many leading bits share a key. Default 32 (one address). */
  readonly ipv4Subnet?: number;
}

/**
 * Keys by client IP as the framework reports it (`req.ip`), IPv6 grouped by
 * `/ipv6Subnet` (default /64, since one host usually owns a whole /64) and
 * IPv4-mapped IPv6 folded to IPv4. A request with no known address gets `"unknown"`.
 */
export function ipKey(options?: IpKeyOptions): KeyFunction<KeyedRequest> {
  const o = objectOption('ipKey', options);
  const v6 = integerOption('ipKey', 'ipv6Subnet', o.ipv6Subnet, 64, 1, 128);
  const v4 = integerOption('ipKey', 'ipv4Subnet', o.ipv4Subnet, 32, 1, 32);
  return markClientIp((req: KeyedRequest) => {
    const ip = req.ip;
    return typeof ip === 'string' && ip.length > 0 ? groupIp(ip, v6, v4) : 'unknown';
  });
}

/** Options of {@link headerKey}. */
export interface HeaderKeyOptions<Req> {
  /**
   * Key used when the header is absent or empty. Default: `ipKey()`, so a
   * request without the header is limited by its client IP; `null` leaves
   * such requests unlimited by this limit.
   */
  readonly fallback?: KeyFunction<Req> | null;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Keys by a request header such as an API key: `"<header>=<value>"`, so a
 * header value can never equal an IP key. Requests without the header use
 * `fallback` (default: the client IP).
 */
export function headerKey<Req extends KeyedRequest>(header: string, options?: HeaderKeyOptions<Req>): KeyFunction<Req> {
  if (typeof header !== 'string' || !TOKEN.test(header.toLowerCase())) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `headerKey(header) must be an HTTP header name, got ${describe(header)}`);
  }
  const o = objectOption('headerKey', options);
  const fallback = o.fallback === undefined ? (ipKey() as KeyFunction<Req>) : (o.fallback as KeyFunction<Req> | null);
  if (fallback !== null && typeof fallback !== 'function') {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `headerKey option "fallback" must be a key function or null, got ${describe(fallback)}`);
  }
  const name = header.toLowerCase();
  const prefix = `${name}=`;
  const key: KeyFunction<Req> = (req) => {
    const raw = req.headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value !== undefined && value.length > 0) return prefix + value;
    return fallback === null ? undefined : fallback(req);
  };
  return readsClientIp(fallback) ? markClientIp(key) : key;
}
