/**
 * Redis Sentinel failover, on a real setup of one master, one replica and
 * three Sentinels (`down-after-milliseconds 1000`) started by the harness,
 * under bounded closed-loop load on two stores at once: one over a borrowed
 * Sentinel client (`new Redis({ sentinels, name })`) and one that opens its
 * own connections from `redis: { sentinels, name }`. The master is killed;
 * both stores decide checks in Redis again on the promoted replica within a
 * stated bound, no check outlives its deadline, and counts are exact
 * afterwards. What the failover lost or took from checks reported failed is
 * printed (it is what the README quotes). The test first waits for a
 * stable setup and kills the master the Sentinels name; the load warms up
 * and the outage ends on conditions, not fixed sleeps; a check's lateness is
 * bounded by its deadline plus the event-loop stall measured in the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Limiter } from '../src/limiter.js';
import { RedisStore } from '../src/redis-store.js';
import { Load } from './helpers/failover-load.js';
import { waitFor } from './helpers/redis-cluster.js';
import { type RedisSentinelProcess, SENTINEL_MASTER_NAME, startRedisSentinel } from './helpers/redis-sentinel.js';

/** Deadline of every check in these tests (the store's default). */
const TIMEOUT = 1000;
/** A check may settle this much after its deadline, beyond the longest event-loop stall of the run, no more. */
const LATE_MS = 250;
/** Both stores decide checks in Redis again within this many ms of the master's death (measured 3 to 6 s). */
const RECOVERY_BOUND_MS = 15_000;

describe('Redis Sentinel failover under load', () => {
  let sentinel: RedisSentinelProcess;
  const stores: RedisStore[] = [];

  before(async () => {
    sentinel = await startRedisSentinel({ downAfter: 1000 });
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await sentinel.stop();
  });

  it('a borrowed Sentinel client and the store\'s own redis: { sentinels, name } both move to the promoted replica: bounded recovery, no check past its deadline, exact counts afterwards', async (t) => {
    const borrowed = new RedisStore({ client: sentinel.client(), prefix: 'sb:', timeout: TIMEOUT, denyCache: false });
    const owned = new RedisStore({ redis: { sentinels: [...sentinel.sentinels], name: SENTINEL_MASTER_NAME }, prefix: 'so:', timeout: TIMEOUT, denyCache: false });
    stores.push(borrowed, owned);
    const limiters = { borrowed: new Limiter({ store: borrowed, telemetry: false }), owned: new Limiter({ store: owned, telemetry: false }) };
    const limit = { rate: 1, period: 3_600_000, burst: 10_000 };
    const keys = Array.from({ length: 32 }, (_, i) => `k-${i}`);
    // Both stores answer before the fault.
    for (const limiter of Object.values(limiters)) assert.equal((await limiter.allow('warm', limit)).allowed, true);
    const allowed = { borrowed: new Map<string, number>(), owned: new Map<string, number>() };
    const failed = { borrowed: 0, owned: 0 };
    const load = new Load();
    const end = performance.now() + 30_000;
    for (const name of ['borrowed', 'owned'] as const) {
      load.run(
        name,
        16,
        (w, n) => {
          const key = keys[(w + 16 * n) % keys.length] as string;
          return limiters[name].allow(key, limit).then(
            (r) => {
              if (r.allowed) allowed[name].set(key, (allowed[name].get(key) ?? 0) + 1);
              return r;
            },
            (error: unknown) => {
              failed[name] += 1;
              throw error;
            },
          );
        },
        200_000,
        end,
      );
    }
    // Enough traffic before the fault that the master has writes in flight to its replica when it dies.
    await waitFor('the load did not warm up', async () => load.decided('borrowed', 0) >= 5000 && load.decided('owned', 0) >= 5000, 10_000);
    const master = await sentinel.waitStable();
    const killedAt = performance.now();
    await sentinel.kill(master);
    const recovered: Record<string, number | undefined> = {};
    await waitFor(
      'both stores did not answer from Redis again',
      async () => {
        for (const name of ['borrowed', 'owned']) recovered[name] ??= load.firstSuccess(name, killedAt);
        return recovered.borrowed !== undefined && recovered.owned !== undefined;
      },
      RECOVERY_BOUND_MS + 2000,
    );
    // The promoted replica keeps answering: every loop of both stores had a check decided after the recovery.
    await waitFor('the stores did not keep answering from Redis', async () => load.decided('borrowed', recovered.borrowed as number) >= 16 && load.decided('owned', recovered.owned as number) >= 16, 5000);
    await load.stop();
    assert.notEqual(await sentinel.masterPort(), master, 'the Sentinels promoted the replica');
    const figures: string[] = [];
    for (const name of ['borrowed', 'owned'] as const) {
      const peeks = await Promise.all(keys.map((key) => limiters[name].peek(key, limit)));
      let lost = 0;
      let extra = 0;
      keys.forEach((key, i) => {
        const taken = limit.burst - (peeks[i]?.remaining ?? 0);
        const reported = allowed[name].get(key) ?? 0;
        if (taken < reported) lost += reported - taken;
        else extra += taken - reported;
      });
      const recovery = (recovered[name] as number) - killedAt;
      figures.push(`${name}: recovery ${Math.round(recovery)} ms, ${JSON.stringify(load.tally(name))}, lost writes ${lost} units, units taken by checks reported failed ${extra} (of ${failed[name]} failed, ${(limiters[name].store as RedisStore).stats.unconfirmed} counted unconfirmed)`);
      assert.ok(recovery <= RECOVERY_BOUND_MS, `${name}: recovery took ${Math.round(recovery)} ms`);
      const unconfirmed = (limiters[name].store as RedisStore).stats.unconfirmed;
      assert.ok(extra <= unconfirmed, `${name}: units taken by failed checks (${extra}) exceed the checks counted unconfirmed (${unconfirmed})`);
    }
    const line = `sentinel failover: ${figures.join('; ')}; longest check ${Math.round(load.longest())} ms; longest event-loop stall ${Math.round(load.maxLag)} ms`;
    t.diagnostic(line);
    console.log(line);
    assert.ok(load.longest() <= TIMEOUT + LATE_MS + load.maxLag, `a check took ${Math.round(load.longest())} ms (longest event-loop stall ${Math.round(load.maxLag)} ms)`);
    // Exact counts on the promoted replica, through both stores.
    for (const limiter of Object.values(limiters)) {
      for (const key of ['after-1', 'after-2', 'after-3']) {
        const results = await Promise.all(Array.from({ length: 20 }, () => limiter.allow(key, { rate: 5, period: 60_000 })));
        assert.equal(results.filter((r) => r.allowed).length, 5, key);
      }
    }
  });
});
