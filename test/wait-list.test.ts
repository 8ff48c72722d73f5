/**
 * WaitList (src/wait-list.ts), the batcher's intrusive list of waiting work:
 * FIFO append and removal anywhere, and an insert that keeps the list in
 * deadline order, checked against a sorted array over random operations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type WaitNode, WaitList } from '../src/wait-list.js';

class Item implements WaitNode<Item> {
  prev: Item | undefined;
  next: Item | undefined;
  list: WaitList<Item> | undefined;
  constructor(readonly acquireBy: number, readonly id: number) {}
}

function contents(list: WaitList<Item>): number[] {
  const forward: number[] = [];
  for (let item = list.head; item !== undefined; item = item.next) forward.push(item.id);
  const backward: number[] = [];
  for (let item = list.tail; item !== undefined; item = item.prev) backward.push(item.id);
  assert.deepEqual(backward.reverse(), forward, 'the links agree both ways');
  return forward;
}

describe('WaitList', () => {
  it('keeps FIFO order on push and unlinks from anywhere', () => {
    const list = new WaitList<Item>();
    const items = [0, 1, 2, 3].map((i) => new Item(i, i));
    for (const item of items) list.push(item);
    assert.deepEqual(contents(list), [0, 1, 2, 3]);
    list.remove(items[0] as Item);
    list.remove(items[2] as Item);
    assert.deepEqual(contents(list), [1, 3]);
    assert.equal(items[2]?.list, undefined);
    list.remove(items[3] as Item);
    list.remove(items[1] as Item);
    assert.deepEqual(contents(list), []);
    assert.equal(list.head, undefined);
    assert.equal(list.tail, undefined);
  });

  it('insertByDeadline keeps deadline order, equal deadlines in insertion order, under random inserts and removals', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.record({ insert: fc.integer({ min: 0, max: 20 }) }), fc.record({ remove: fc.nat() })), { maxLength: 60 }), (ops) => {
        const list = new WaitList<Item>();
        const model: Item[] = [];
        let id = 0;
        for (const op of ops) {
          if ('insert' in op) {
            const item = new Item(op.insert, id++);
            list.insertByDeadline(item);
            let at = model.length;
            while (at > 0 && (model[at - 1] as Item).acquireBy > item.acquireBy) at -= 1;
            model.splice(at, 0, item);
          } else if (model.length > 0) {
            const [item] = model.splice(op.remove % model.length, 1);
            list.remove(item as Item);
          }
          assert.deepEqual(contents(list), model.map((m) => m.id));
        }
      }),
      { numRuns: 300 },
    );
  });
});
