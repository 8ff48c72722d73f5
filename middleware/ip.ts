/**
 * IP address handling for rate-limit keys and allow lists: parsing IPv4 and
 * IPv6 (with `::`, embedded IPv4 and zone ids) into 16-bit words, folding
 * IPv4-mapped IPv6 back to IPv4, grouping addresses by subnet, and CIDR
 * matching. Addresses come from the framework (`req.ip`), never from headers.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ErrorCodes, LimiterError, describe } from '../src/errors.js';

/** An address as eight 16-bit words; IPv4 is held as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
export type Words = readonly number[];

function ipv4Words(ip: string): number[] {
  const p = ip.split('.').map(Number);
  return [0, 0, 0, 0, 0, 0xffff, ((p[0] ?? 0) << 8) | (p[1] ?? 0), ((p[2] ?? 0) << 8) | (p[3] ?? 0)];
}

function ipv6Words(ip: string): number[] {
  let text = ip;
  const tail: number[] = [];
  if (text.includes('.')) {
    // Embedded IPv4 in the last 32 bits, e.g. ::ffff:192.0.2.1
    const at = text.lastIndexOf(':');
    const v4 = ipv4Words(text.slice(at + 1));
    tail.push(v4[6] ?? 0, v4[7] ?? 0);
    text = text.slice(0, at + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const gap = text.indexOf('::');
  const head = gap < 0 ? text.split(':') : text.slice(0, gap) === '' ? [] : text.slice(0, gap).split(':');
  const rest = gap < 0 || text.slice(gap + 2) === '' ? [] : text.slice(gap + 2).split(':');
  const words = head.map((h) => parseInt(h, 16));
  if (gap >= 0) for (let i = head.length + rest.length + tail.length; i < 8; i += 1) words.push(0);
  for (const h of rest) words.push(parseInt(h, 16));
  words.push(...tail);
  return words;
}

/** Parses an IPv4 or IPv6 address (zone id ignored) into words; undefined when it is neither. */
export function parseIp(ip: string): Words | undefined {
  if (isIPv4(ip)) return ipv4Words(ip);
  const zone = ip.indexOf('%');
  const bare = zone >= 0 ? ip.slice(0, zone) : ip;
  if (!isIPv6(bare)) return undefined;
  return ipv6Words(bare);
}

/** True for words holding an IPv4 address (IPv4-mapped IPv6). */
export function isMappedIpv4(words: Words): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff;
}

function mask(words: Words, prefix: number): number[] {
  return words.map((w, i) => {
    const bits = Math.min(16, Math.max(0, prefix - i * 16));
    return bits === 0 ? 0 : w & (0xffff << (16 - bits)) & 0xffff;
  });
}

/**
 * Groups an address by subnet for use as a rate-limit key. IPv4 (and
 * IPv4-mapped IPv6) gives dotted quads, with `/n` when `ipv4Prefix` < 32;
 * IPv6 gives the first words of the masked address in hex and `/n`, so
 * every address of one /64 (by default) yields the same key. Text that is
 * not an IP address is returned unchanged.
 */
export function groupIp(ip: string, ipv6Prefix: number, ipv4Prefix: number): string {
  if (!ip.includes(':')) {
    if (ipv4Prefix === 32 || !isIPv4(ip)) return ip;
    return v4Key(ipv4Words(ip), ipv4Prefix);
  }
  const words = parseIp(ip);
  if (words === undefined) return ip;
  if (isMappedIpv4(words)) return v4Key(words, ipv4Prefix);
  const masked = mask(words, ipv6Prefix);
  const used = Math.max(1, Math.ceil(ipv6Prefix / 16));
  return `${masked.slice(0, used).map((w) => w.toString(16)).join(':')}/${ipv6Prefix}`;
}

function v4Key(words: Words, prefix: number): string {
  const m = mask(words, 96 + prefix);
  const a = m[6] ?? 0;
  const b = m[7] ?? 0;
  const text = `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
  return prefix === 32 ? text : `${text}/${prefix}`;
}

/** A parsed CIDR range. */
export interface IpRange {
  /** The network address, masked. */
  readonly words: Words;
  /** Prefix length in bits of the IPv6 form (IPv4 ranges are offset by 96). */
  readonly prefix: number;
}

/** Parses `"10.0.0.0/8"`, `"2001:db8::/32"` or a single address; throws ERR_INVALID_OPTION naming `field`. */
export function parseRange(text: unknown, field: string): IpRange {
  const bad = (): LimiterError =>
    new LimiterError(ErrorCodes.INVALID_OPTION, `${field} must be an IP address or CIDR range such as "10.0.0.0/8" or "2001:db8::/32", got ${describe(text)}`);
  if (typeof text !== 'string') throw bad();
  const slash = text.indexOf('/');
  const address = slash >= 0 ? text.slice(0, slash) : text;
  const words = parseIp(address);
  if (words === undefined) throw bad();
  const v4 = isIPv4(address);
  const max = v4 ? 32 : 128;
  const bits = slash >= 0 ? Number(text.slice(slash + 1)) : max;
  if (slash >= 0 && !/^\d{1,3}$/.test(text.slice(slash + 1))) throw bad();
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw bad();
  const prefix = v4 ? 96 + bits : bits;
  return { words: mask(words, prefix), prefix };
}

/** True when `ip` lies in any of `ranges` (IPv4-mapped IPv6 matches IPv4 ranges). */
export function inRanges(ip: string, ranges: readonly IpRange[]): boolean {
  const words = parseIp(ip);
  if (words === undefined) return false;
  for (const range of ranges) {
    const m = mask(words, range.prefix);
    if (m.every((w, i) => w === range.words[i])) return true;
  }
  return false;
}
