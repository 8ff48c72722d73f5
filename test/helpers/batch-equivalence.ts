/**
 * Test helpers for SPEC section 9 (a batch gives exactly the results of the
 * same checks run one by one, in issue order): store operations as data, a
 * way to fire one at a store, and the comparison of firing a list of them
 * all at once on a batching store against one by one on a reference store.
 */
import assert from 'node:assert/strict';
import { type Limit, resolveLimit } from '../../src/limits.js';
import type { AnyCheck, AnyOutcome, CheckItem, Store } from '../../src/store.js';

/** A check or a reset, as data. */
export type StoreOp = { kind: 'check'; check: AnyCheck } | { kind: 'reset'; keys: string[] };

/** A check outcome without `source` (which says where the answer came from, not what it is). */
export function withoutSource(outcome: AnyOutcome): unknown {
  const { source: _source, ...rest } = outcome;
  return rest;
}

/** Runs one op on a store: a check's outcome without its source, or `'reset'`. */
export function fireOp(store: Store, op: StoreOp): Promise<unknown> {
  return op.kind === 'reset' ? store.reset(op.keys).then(() => 'reset') : store.evaluate(op.check).then(withoutSource);
}

/**
 * Fires `ops` all at once on `store` (so they batch) and one by one, in
 * order, on `reference`, and asserts equal results. Returns the op count.
 */
export async function assertBatchedEqualsOneByOne(store: Store, reference: Store, ops: readonly StoreOp[]): Promise<number> {
  const together = await Promise.all(ops.map((op) => fireOp(store, op)));
  const oneByOne: unknown[] = [];
  for (const op of ops) oneByOne.push(await fireOp(reference, op));
  assert.deepEqual(together, oneByOne);
  return ops.length;
}

/** Builds check items for keys that each have one fixed limit in `limits`. */
export function itemsFor(limits: ReadonlyMap<string, Limit>): (key: string, cost: number) => CheckItem {
  return (key, cost) => {
    const limit = limits.get(key);
    if (limit === undefined) throw new Error(`no limit for test key ${key}`);
    const r = resolveLimit(limit);
    return { key, interval: r.interval, burst: r.burst, cost };
  };
}
