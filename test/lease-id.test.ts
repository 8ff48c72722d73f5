/**
 * Lease ids (src/lease-id.ts): unique within a process, one random prefix of
 * 16 base64url characters per process, different prefixes across processes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { newLeaseId } from '../src/lease-id.js';

describe('newLeaseId', () => {
  it('never repeats within a process and keeps one prefix', () => {
    const ids = Array.from({ length: 10_000 }, () => newLeaseId());
    assert.equal(new Set(ids).size, ids.length);
    const prefix = ids[0]?.slice(0, 16);
    for (const id of ids) {
      assert.match(id, /^[A-Za-z0-9_-]{16}[0-9a-z]+$/);
      assert.equal(id.slice(0, 16), prefix);
      assert.ok(id.length <= 27, `${id} stays short`);
    }
  });

  it('draws a different prefix in every process', () => {
    const script = "import('./src/lease-id.ts').then((m) => process.stdout.write(m.newLeaseId()))";
    const run = (): string => execFileSync(process.execPath, ['--import', 'tsx', '--eval', script], { encoding: 'utf8' });
    const [a, b] = [run(), run()];
    assert.match(a, /^[A-Za-z0-9_-]{16}1$/);
    assert.notEqual(a.slice(0, 16), b.slice(0, 16));
  });
});
