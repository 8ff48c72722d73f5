/**
 * Keys: client-IP grouping (IPv6 by subnet, IPv4-mapped folded to IPv4),
 * header keys, allow-list ranges, and the namespacing that keeps keys of
 * different middlewares, policies, scopes and limits apart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes } from '../src/errors.js';
import { MAX_KEY_LENGTH } from '../src/inputs.js';
import { groupIp, inRanges, parseIp, parseRange } from '../middleware/ip.js';
import { headerKey, ipKey } from '../middleware/keys.js';
import { buildKey, keyShape } from '../middleware/namespace.js';

const req = (ip: string | undefined, headers: Record<string, string> = {}) => ({ ip, headers });

describe('IP keys', () => {
  it('parses IPv6 forms into the same words', () => {
    const words = (ip: string) => parseIp(ip)?.join(',');
    assert.equal(words('2001:db8::1'), words('2001:0db8:0000:0000:0000:0000:0000:0001'));
    assert.equal(words('::ffff:192.0.2.1'), words('192.0.2.1'));
    assert.equal(words('::ffff:c000:201'), words('192.0.2.1'));
    assert.equal(words('1:2:3:4:5:6:7.8.9.10'), words('1:2:3:4:5:6:708:90a'));
    assert.equal(words('fe80::1%eth0'), words('fe80::1'));
    assert.equal(parseIp('not an ip'), undefined);
    assert.equal(parseIp('1::2::3'), undefined);
  });

  it('groups IPv6 addresses of one /64 into one key, and different /64s apart', () => {
    const key = ipKey();
    assert.equal(key(req('2001:db8:1:2::1')), key(req('2001:db8:1:2:ffff:ffff:ffff:ffff')));
    assert.notEqual(key(req('2001:db8:1:2::1')), key(req('2001:db8:1:3::1')));
    assert.equal(key(req('2001:db8:1:2::1')), '2001:db8:1:2/64');
  });

  it('honours a configurable IPv6 subnet and IPv4 subnet', () => {
    const wide = ipKey({ ipv6Subnet: 48, ipv4Subnet: 24 });
    assert.equal(wide(req('2001:db8:1:2::1')), wide(req('2001:db8:1:ffff::1')));
    assert.notEqual(wide(req('2001:db8:1::1')), wide(req('2001:db8:2::1')));
    assert.equal(wide(req('10.1.2.3')), '10.1.2.0/24');
    assert.equal(wide(req('10.1.2.3')), wide(req('10.1.2.200')));
    const exact = ipKey({ ipv6Subnet: 128 });
    assert.notEqual(exact(req('2001:db8::1')), exact(req('2001:db8::2')));
  });

  it('folds IPv4-mapped IPv6 to IPv4 and keeps IPv4 as is', () => {
    const key = ipKey();
    assert.equal(key(req('::ffff:203.0.113.9')), '203.0.113.9');
    assert.equal(key(req('203.0.113.9')), '203.0.113.9');
    assert.equal(key(req(undefined)), 'unknown');
  });

  it('rejects bad subnet options', () => {
    assert.throws(() => ipKey({ ipv6Subnet: 0 }), { code: ErrorCodes.INVALID_OPTION, message: /ipv6Subnet/ });
    assert.throws(() => ipKey({ ipv6Subnet: 129 }), { code: ErrorCodes.INVALID_OPTION });
    assert.throws(() => ipKey({ ipv4Subnet: 33 }), { code: ErrorCodes.INVALID_OPTION, message: /ipv4Subnet/ });
  });

  it('groupIp leaves text that is not an address unchanged', () => {
    assert.equal(groupIp('unix:/tmp/sock', 64, 32), 'unix:/tmp/sock');
  });
});

describe('header keys', () => {
  it('keys by the header, falling back to the client IP', () => {
    const key = headerKey('X-API-Key');
    assert.equal(key(req('10.0.0.1', { 'x-api-key': 'abc' })), 'x-api-key=abc');
    assert.equal(key(req('10.0.0.1', {})), '10.0.0.1');
    assert.equal(key(req('10.0.0.1', { 'x-api-key': '' })), '10.0.0.1');
  });

  it('a header value can never equal an IP key', () => {
    const key = headerKey('x-api-key');
    assert.notEqual(key(req('10.0.0.1', { 'x-api-key': '10.0.0.2' })), key(req('10.0.0.2', {})));
  });

  it('fallback null leaves requests without the header unkeyed', () => {
    const key = headerKey('x-api-key', { fallback: null });
    assert.equal(key(req('10.0.0.1', {})), undefined);
  });

  it('rejects a bad header name or fallback', () => {
    assert.throws(() => headerKey('bad header'), { code: ErrorCodes.INVALID_OPTION });
    assert.throws(() => headerKey('x', { fallback: 'ip' as never }), { code: ErrorCodes.INVALID_OPTION, message: /fallback/ });
  });
});

describe('allow-list ranges', () => {
  it('matches CIDR ranges for IPv4, IPv6 and IPv4-mapped IPv6', () => {
    const ranges = ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'].map((r) => parseRange(r, 'allowList'));
    assert.equal(inRanges('10.200.1.1', ranges), true);
    assert.equal(inRanges('::ffff:10.200.1.1', ranges), true);
    assert.equal(inRanges('11.0.0.1', ranges), false);
    assert.equal(inRanges('2001:db8:ffff::1', ranges), true);
    assert.equal(inRanges('2001:db9::1', ranges), false);
    assert.equal(inRanges('192.0.2.7', ranges), true);
    assert.equal(inRanges('192.0.2.8', ranges), false);
    assert.equal(inRanges('garbage', ranges), false);
  });

  it('rejects invalid ranges naming the field', () => {
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/x', 'host', 42, '10.0.0.0/']) {
      assert.throws(() => parseRange(bad, 'allowList[0]'), { code: ErrorCodes.INVALID_OPTION, message: /allowList\[0\]/ });
    }
  });
});

describe('namespaced keys', () => {
  const segment = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom('a', 'b', ':', '{', '}', '%', '#', '3', 'A') });

  it('never maps two different (name, policy, scope, limit, key) tuples to one storage key', () => {
    const tuple = fc.tuple(segment, segment, fc.option(segment, { nil: undefined }), segment, fc.boolean(), segment);
    fc.assert(
      fc.property(tuple, tuple, (a, b) => {
        const ka = buildKey(keyShape(a[0], a[1], a[2], a[3], a[4]), a[5]);
        const kb = buildKey(keyShape(b[0], b[1], b[2], b[3], b[4]), b[5]);
        // The compound flag only moves the hash tag; equal tuples otherwise may differ by it.
        const same = a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[5] === b[5] && (a[4] === b[4] || a[2] !== undefined);
        assert.equal(ka === kb, same, `${ka} vs ${kb}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('puts one hash tag on the scope, the key of a single limit, or the policy of a compound one', () => {
    const tag = (k: string) => /\{([^}]*)\}/.exec(k)?.[1];
    assert.equal(tag(buildKey(keyShape('api', 'pro', 'acme', 'user', true), 'u1')), 'acme');
    assert.equal(tag(buildKey(keyShape('api', 'pro', 'acme', 'tenant', true), 't')), 'acme');
    assert.equal(tag(buildKey(keyShape('api', 'free', undefined, 'user', false), 'u{1}')), 'u%7B1%7D');
    assert.equal(tag(buildKey(keyShape('api', 'free', undefined, 'user', true), 'u1')), 'api:free');
    assert.equal(tag(buildKey(keyShape('api', 'free', undefined, 'tenant', true), 't9')), 'api:free');
  });

  it('hashes keys that would pass the maximum length, keeping them distinct', () => {
    const shape = keyShape('api', 'p', undefined, 'l', false);
    const long1 = buildKey(shape, 'x'.repeat(5000));
    const long2 = buildKey(shape, `${'x'.repeat(4999)}y`);
    assert.ok(long1.length <= MAX_KEY_LENGTH);
    assert.notEqual(long1, long2);
    assert.match(long1, /^api:p:l:\{#[A-Za-z0-9_-]{43}\}$/);
  });

  it('rejects names that leave no room for a key', () => {
    assert.throws(() => keyShape('n'.repeat(1000), 'p', undefined, 'l', false), { code: ErrorCodes.INVALID_OPTION });
  });
});
