/**
 * The lone-item decode of the concurrency kind (Kind.decodeSingle, the
 * Redis codec's fast path for a check of one acquire, release or extend):
 * for every well-formed reply entry it answers exactly what the general path
 * answers (the entry read into a reply view, then the twin deciding on it),
 * including the verdict check; malformed entries and verdicts the twin
 * disagrees with fail that check only, as the general path fails them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { concurrencyKind } from '../src/concurrency-kind.js';
import { LimiterError } from '../src/errors.js';
import { evaluateCheck, type KindStates } from '../src/kinds.js';
import { decodeBatch } from '../src/redis-codec.js';
import type { AcquireItem, AnyCheck, ConcurrencyItem, ExtendItem, ReleaseItem } from '../src/store.js';

const NOW = 1_750_000_000_000_000;

/** The general path: the entry read into a view, then the twin's decision on it (what decodeMixed does without the fast path). */
function general(entry: unknown, item: ConcurrencyItem, now: number): unknown {
  const view = concurrencyKind.view();
  const verdict = concurrencyKind.read(entry, item, view, now);
  if (typeof verdict === 'string') return 'malformed';
  const result = evaluateCheck({ mode: 'all', items: [item] }, now, { concurrency: view } as unknown as KindStates);
  return result.allowed === verdict ? result.items[0] : null;
}

function fast(entry: unknown, item: ConcurrencyItem, now: number): unknown {
  const out = concurrencyKind.decodeSingle?.(entry, item, now);
  return typeof out === 'string' ? 'malformed' : out;
}

const acquire = (max: number, ttl: number): AcquireItem => ({ kind: 'concurrency', op: 'acquire', key: 'k', max, ttl, lease: 'id' });
const release: ReleaseItem = { kind: 'concurrency', op: 'release', key: 'k', lease: 'id' };
const extend = (ttl: number): ExtendItem => ({ kind: 'concurrency', op: 'extend', key: 'k', lease: 'id', ttl });

describe('concurrency decodeSingle', () => {
  it('answers as the general path for any acquire entry', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 10 ** 9 }),
        fc.integer({ min: 0, max: 1 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 10 ** 9 }),
        fc.integer({ min: 0, max: 5 }),
        (max, ttl, verdict, count, ahead, expired) => {
          const oldest = count > 0 && count >= max ? NOW + ahead : 0;
          const entry = [verdict, count, oldest, expired];
          const item = acquire(max, ttl);
          assert.deepEqual(fast(entry, item, NOW), general(entry, item, NOW));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads the one-integer form of an allowed acquire (count * 2^26 + expired) as the table form', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 49 }), fc.integer({ min: 0, max: 5 }), (max, count, expired) => {
        const item = acquire(max, 1_000_000);
        const packed = count * 2 ** 26 + expired;
        assert.deepEqual(fast(packed, item, NOW), fast([1, count, 0, expired], item, NOW));
        assert.deepEqual(general(packed, item, NOW), general([1, count, 0, expired], item, NOW));
      }),
    );
    assert.equal(fast(-1, acquire(2, 1), NOW), 'malformed');
    assert.equal(fast(0.5, acquire(2, 1), NOW), 'malformed');
  });

  it('answers as the general path for release and extend entries', () => {
    for (const item of [release, extend(5_000_000)]) {
      for (const entry of [0, 1]) assert.deepEqual(fast(entry, item, NOW), general(entry, item, NOW), `${item.op} ${entry}`);
    }
  });

  it('rejects malformed entries, and entries whose verdict the twin does not reach', () => {
    const item = acquire(2, 1_000_000);
    for (const entry of [undefined, 'x', [1, 0, 0], [1, -1, 0, 0], [2, 0, 0, 0], [1, 0.5, 0, 0]]) {
      assert.equal(fast(entry, item, NOW), 'malformed', JSON.stringify(entry));
    }
    assert.equal(fast([1, 2, NOW + 5, 0], item, NOW), null, 'allowed although full');
    assert.equal(fast([0, 1, 0, 0], item, NOW), null, 'denied although there was room');
    for (const entry of [2, -1, '1', [1]]) assert.equal(fast(entry, release, NOW), 'malformed', JSON.stringify(entry));
  });

  it('a batch fails the check with the bad entry only', () => {
    const checks: AnyCheck[] = [
      { mode: 'all', items: [acquire(2, 1_000_000)] },
      { mode: 'all', items: [release] },
      { mode: 'all', items: [acquire(2, 1_000_000)] },
    ];
    const out = decodeBatch([NOW, [1, 2, NOW + 5, 0], 1, [1, 0, 0, 0]], checks);
    assert.ok(out[0] instanceof LimiterError && /different verdict/.test(out[0].message), String(out[0]));
    assert.deepEqual(out[1], { allowed: true, now: NOW, items: [general(1, release, NOW)], source: 'redis' });
    assert.ok(!(out[2] instanceof LimiterError) && out[2]?.allowed === true);
    const malformed = decodeBatch([NOW, 'x', 7, [1, 0, 0, 0]], checks);
    assert.ok(malformed[0] instanceof LimiterError && /unexpected reply/.test(malformed[0].message));
    assert.ok(malformed[1] instanceof LimiterError && /unexpected reply/.test(malformed[1].message));
  });
});
