/**
 * Known-answer tests (SPEC sections 1-6, issue 2): one table of hand-computed
 * cases (test/cases/known-answers.ts) run against both stores with a fixed
 * client clock. Both must give exactly the tabled results. Against Redis the
 * test also checks every write the script makes (through MONITOR: key,
 * integer-string TAT, PX = ceil((new - now)/1000) ms), that denials and peeks
 * write nothing, and the stored value and PTTL of what was written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Limiter, MemoryStore, RedisStore, type LimitResult } from '../src/index.js';
import { CASES, T0, type Case, type Step } from './cases/known-answers.js';
import { useRedis } from './helpers/redis-server.js';
import { ScriptWrites } from './helpers/script-writes.js';

const PREFIX = 'kat:';
/** Real ms that may pass between a SET and the PTTL that reads it back (PX itself is checked exactly through MONITOR). */
const PTTL_SLACK_MS = 2000;

async function runOp(limiter: Limiter, step: Step): Promise<LimitResult | undefined> {
  const op = step.op;
  switch (op.kind) {
    case 'allow':
      return op.cost === undefined ? limiter.allow(op.key, op.limit) : limiter.allow(op.key, op.limit, { cost: op.cost });
    case 'atMost':
      return limiter.allowAtMost(op.key, op.limit, op.n);
    case 'peek':
      return limiter.peek(op.key, op.limit);
    case 'allowAll':
      return limiter.allowAll(op.items);
    case 'reset':
      await limiter.reset(op.keys);
      return undefined;
  }
}

function expectedResult(step: Step): unknown {
  const op = step.op;
  if (op.kind === 'allowAll' || op.kind === 'reset') return step.expect;
  return { ...step.expect, limit: op.limit };
}

function label(c: Case, i: number): string {
  const step = c.steps[i] as Step;
  return `${c.name}, step ${i + 1} (${step.op.kind} at +${step.at} µs)`;
}

describe('known answers: MemoryStore', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      let t = T0;
      const store = new MemoryStore({ now: () => t });
      const limiter = new Limiter({ store });
      for (const [i, step] of c.steps.entries()) {
        t = T0 + step.at;
        const result = await runOp(limiter, step);
        assert.deepEqual(result, expectedResult(step), label(c, i));
        if (step.size !== undefined) assert.equal(store.size, step.size, `${label(c, i)}: MemoryStore.size`);
      }
    });
  }
});

for (const variant of [
  { name: 'RedisStore (script only, deny cache off)', denyCache: false as const },
  { name: 'RedisStore (default options, local deny cache on)', denyCache: undefined },
]) {
  describe(`known answers: ${variant.name}`, () => {
    let writes: ScriptWrites;
    // Registered before useRedis(), so MONITOR stops before the server does.
    after(() => writes.close());
    const redis = useRedis();
    before(async () => {
      writes = await ScriptWrites.start(redis.port);
    });

    for (const c of CASES) {
      it(c.name, async () => {
        await redis.shared.flushdb();
        await writes.take(redis.shared);
        let t = T0;
        const store = new RedisStore({ client: redis.shared, prefix: PREFIX, now: () => t, ...(variant.denyCache === false ? { denyCache: false } : {}) });
        const limiter = new Limiter({ store });
        try {
          for (const [i, step] of c.steps.entries()) {
            t = T0 + step.at;
            const result = await runOp(limiter, step);
            assert.deepEqual(result, expectedResult(step), label(c, i));

            const seen = await writes.take(redis.shared);
            const expected = (step.writes ?? []).map((w) => ({ key: PREFIX + w.key, value: String(T0 + w.tat), px: String(w.px) }));
            assert.deepEqual(seen, expected, `${label(c, i)}: script writes`);

            // The last write per key is what Redis holds: an integer string, with PTTL just under PX.
            const last = new Map(expected.map((w) => [w.key, w]));
            for (const w of last.values()) {
              if (Number(w.px) < 1000) continue; // may already have expired in real time
              const [value, pttl] = (await redis.shared.multi().get(w.key).pttl(w.key).exec())?.map(([, v]) => v) ?? [];
              assert.equal(value, w.value, `${label(c, i)}: GET ${w.key}`);
              assert.match(String(value), /^\d+$/, `${label(c, i)}: TAT stored as an integer string`);
              assert.ok(typeof pttl === 'number' && pttl <= Number(w.px) && pttl >= Number(w.px) - PTTL_SLACK_MS, `${label(c, i)}: PTTL ${String(pttl)} vs PX ${w.px}`);
            }
            for (const key of step.absent ?? []) {
              assert.equal(await redis.shared.exists(PREFIX + key), 0, `${label(c, i)}: ${key} must not exist`);
            }
          }
        } finally {
          await store.close();
        }
      });
    }
  });
}
