/**
 * Write coalescing on a Redis Cluster client (src/write-coalescing.ts): the
 * masters' sockets are corked once per turn and uncorked when the turn's
 * microtasks have drained; clients without nodes are left alone. The cluster
 * tests (test/cluster.test.ts) run every script call through it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coalesceClusterWrites } from '../src/write-coalescing.js';

class FakeSocket {
  corks = 0;
  uncorks = 0;
  cork(): void {
    this.corks += 1;
  }
  uncork(): void {
    this.uncorks += 1;
  }
}

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

describe('coalesceClusterWrites', () => {
  it('corks every master socket once per turn and uncorks it after the turn', async () => {
    const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    let listed = 0;
    const client = {
      nodes: (role: 'master') => {
        assert.equal(role, 'master');
        listed += 1;
        return sockets.map((stream) => ({ stream }));
      },
    };
    coalesceClusterWrites(client);
    coalesceClusterWrites(client);
    await Promise.resolve().then(() => coalesceClusterWrites(client)); // a microtask of the same turn
    assert.equal(listed, 1);
    assert.deepEqual(sockets.map((s) => [s.corks, s.uncorks]), [[1, 0], [1, 0], [1, 0]]);
    await nextTick();
    assert.deepEqual(sockets.map((s) => [s.corks, s.uncorks]), [[1, 1], [1, 1], [1, 1]]);
    coalesceClusterWrites(client); // a later turn corks again
    assert.equal(listed, 2);
    await nextTick();
    assert.deepEqual(sockets.map((s) => [s.corks, s.uncorks]), [[2, 2], [2, 2], [2, 2]]);
  });

  it('skips nodes without a socket yet, and clients without nodes', async () => {
    const socket = new FakeSocket();
    coalesceClusterWrites({ nodes: () => [{}, { stream: null }, { stream: { write() {} } }, { stream: socket }] });
    coalesceClusterWrites({});
    await nextTick();
    assert.deepEqual([socket.corks, socket.uncorks], [1, 1]);
  });
});
