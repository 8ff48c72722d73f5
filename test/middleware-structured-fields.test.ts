/**
 * The tiny RFC 9651 serializer behind the rate-limit headers: whatever it
 * writes parses back (with an independent strict parser) to the same
 * values, and it refuses anything RFC 9651 cannot represent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes } from '../src/errors.js';
import { SF_INTEGER_MAX, clampInteger, serializeInteger, serializeKey, serializeList, serializeString, serializeStringItem } from '../middleware/structured-fields.js';
import { parseSfList } from './helpers/http.js';

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const sfInteger = fc.integer({ min: -SF_INTEGER_MAX, max: SF_INTEGER_MAX });
const key = fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,8}$/);

describe('structured fields (RFC 9651)', () => {
  it('escapes only " and \\ inside sf-strings', () => {
    assert.equal(serializeString('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(serializeString(''), '""');
    assert.equal(serializeString("it's ok; really, = fine"), '"it\'s ok; really, = fine"');
  });

  it('round-trips any printable-ASCII string and any sf-integer through a strict parser', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(printable, fc.uniqueArray(fc.tuple(key, sfInteger), { selector: ([k]) => k, maxLength: 4 })), { minLength: 1, maxLength: 5 }), (members) => {
        const text = serializeList(members.map(([s, params]) => serializeStringItem(s, params)));
        const parsed = parseSfList(text);
        assert.equal(parsed.length, members.length);
        parsed.forEach((item, i) => {
          const [s, params] = members[i] as (typeof members)[number];
          assert.equal(item.value, s);
          assert.deepEqual(item.params, params);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('rejects strings with control or non-ASCII characters', () => {
    for (const bad of ['tab\there', 'new\nline', 'caf\u00e9', '\u007f', 'emoji \u{1f600}']) {
      assert.throws(() => serializeString(bad), { code: ErrorCodes.INVALID_OPTION });
    }
  });

  it('rejects integers outside ±999,999,999,999,999 and non-integers', () => {
    assert.equal(serializeInteger(SF_INTEGER_MAX), '999999999999999');
    assert.equal(serializeInteger(-SF_INTEGER_MAX), '-999999999999999');
    for (const bad of [SF_INTEGER_MAX + 1, -SF_INTEGER_MAX - 1, 1.5, NaN, Infinity, 2 ** 53]) {
      assert.throws(() => serializeInteger(bad), { code: ErrorCodes.INVALID_OPTION });
    }
    assert.equal(clampInteger(2 ** 53), SF_INTEGER_MAX);
    assert.equal(clampInteger(42), 42);
  });

  it('rejects invalid parameter keys', () => {
    assert.equal(serializeKey('q'), 'q');
    assert.equal(serializeKey('*x-1.y_z'), '*x-1.y_z');
    for (const bad of ['', 'Q', '1a', 'a b', 'a=b', 'ä']) assert.throws(() => serializeKey(bad), { code: ErrorCodes.INVALID_OPTION });
  });

  it('the test parser itself rejects invalid fields (so passing it means something)', () => {
    for (const bad of ['"a";q=1,', '"unterminated', '"a";Q=1', '"a";q=1234567890123456', '"a\\n"', '"a", , "b"', '"é"']) {
      assert.throws(() => parseSfList(bad), /invalid structured field/, bad);
    }
  });
});
