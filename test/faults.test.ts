/**
 * Fault suite (issue 10): faults injected between the limiter and a real
 * Redis (test/helpers/fault-proxy.ts: latency, black-hole, tarpit, resets,
 * refused connections) or on Redis itself (SIGSTOP, SIGKILL and restart,
 * CLIENT PAUSE, SCRIPT FLUSH, maxmemory OOM, down at start), each under every
 * failure policy, with connections the store owns (`url`) and with a
 * borrowed `new Redis(url)` with ioredis defaults. For each: every check
 * settles within its deadline + 50 ms with an answer by Redis or by its
 * policy (`reason`), no unhandled rejection, the store is decided by Redis
 * again within 1 s of healing, and afterwards exactly 50 of 200 concurrent
 * checks pass at burst 50. Per-fault figures are reported as test diagnostics,
 * with the longest event-loop stall seen during the fault: a check may be
 * late by a stall of the whole process (other work on these shared 2-core
 * machines), which the bound allows for and the diagnostics show.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { type FailurePolicy, Limiter, LimiterError, RedisStore, perMinute } from '../src/index.js';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { startRedis, useRedis } from './helpers/redis-server.js';

/** Store deadline of the suite, ms. */
const TIMEOUT = 300;
/** Every check settles within this (the bound). */
const SETTLE_BOUND = TIMEOUT + 50;
/** How long each fault lasts, ms. */
const FAULT_MS = 1200;
/** The store is decided by Redis again within this of healing, ms. */
const RECOVERY_BOUND = 1000;
const POLICIES: readonly FailurePolicy[] = ['throw', 'open', 'closed', 'local'];
const KINDS = ['owned', 'borrowed'] as const;
const BIG = perMinute(1_000_000);
const STORE_CODES = ['ERR_STORE', 'ERR_TIMEOUT', 'ERR_POOL_TIMEOUT'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

interface Subject {
  readonly name: string;
  readonly policy: FailurePolicy;
  readonly kind: (typeof KINDS)[number];
  readonly store: RedisStore;
  readonly limiter: Limiter;
  readonly client: Redis | undefined;
}

/** What one subject saw during a fault. */
interface Tally {
  redis: number;
  policy: number;
  thrown: number;
  slowest: number;
  /** Slowest check after healing (included in `slowest`). */
  slowestHealed: number;
  bad: string[];
  recoveryMs: number;
  /** Rounds of the 200-check burst needed (more than one only when the process was starved). */
  rounds: number;
}

const newTally = (): Tally => ({ redis: 0, policy: 0, thrown: 0, slowest: 0, slowestHealed: 0, bad: [], recoveryMs: NaN, rounds: 0 });

/** One check, timed and classified: decided by Redis, by the policy, or rejected with a store error (throw). */
async function probe(subject: Subject, key: string, tally: Tally): Promise<'redis' | 'policy'> {
  const started = performance.now();
  let kind: 'redis' | 'policy' = 'policy';
  try {
    const result = await subject.limiter.allow(key, BIG);
    if (result.reason === undefined) {
      kind = 'redis';
      tally.redis += 1;
    } else {
      tally.policy += 1;
      const expected = { open: true, closed: false, local: true }[result.reason];
      if (result.reason !== subject.policy || result.allowed !== expected) tally.bad.push(`${result.reason}/${result.allowed}`);
    }
  } catch (error) {
    tally.thrown += 1;
    if (subject.policy !== 'throw' || !(error instanceof LimiterError) || !STORE_CODES.includes(error.code)) {
      tally.bad.push(`threw ${error instanceof LimiterError ? error.code : String(error)}`);
    }
  }
  const elapsed = performance.now() - started;
  if (elapsed > tally.slowest) tally.slowest = elapsed;
  return kind;
}

/** A fault: how to start it and how to heal it. */
interface FaultCase {
  readonly name: string;
  /** What a check may answer while the fault lasts: only Redis (no failure expected), or Redis or the policy. */
  readonly redisOnly?: boolean;
  /** Subjects are made after start() (Redis down at start). */
  readonly startsDown?: boolean;
  start(env: Env): Promise<void> | void;
  heal(env: Env): Promise<void> | void;
}

interface Env {
  readonly proxy: FaultProxy;
  readonly admin: Redis;
  timer?: ReturnType<typeof setInterval>;
}

async function redisPid(admin: Redis): Promise<number> {
  const info = await admin.info('server');
  return Number(/process_id:(\d+)/.exec(info)?.[1]);
}

describe('fault suite', () => {
  const redis = useRedis();
  let admin: Redis;
  const rows: string[] = [];

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    admin = redis.client();
    await admin.ping();
  });
  after(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  function subjects(proxy: FaultProxy, tag: string): Subject[] {
    const made: Subject[] = [];
    for (const kind of KINDS) {
      for (const policy of POLICIES) {
        let client: Redis | undefined;
        if (kind === 'borrowed') {
          client = new Redis(proxy.url); // ioredis defaults, as users create it
          client.on('error', () => undefined);
        }
        const common = { prefix: `fault:${tag}:${kind}:${policy}:`, timeout: TIMEOUT };
        const store = kind === 'owned' ? new RedisStore({ url: proxy.url, ...common }) : new RedisStore({ client, ...common });
        made.push({ name: `${kind}/${policy}`, policy, kind, store, client, limiter: new Limiter({ store, onStoreError: policy, telemetry: false }) });
      }
    }
    return made;
  }

  /** Runs one fault over every policy and kind of client; returns per-subject tallies. */
  async function runFault(fault: FaultCase, env: Env, tag: string): Promise<void> {
    let all: Subject[] = [];
    const loop = monitorEventLoopDelay({ resolution: 10 });
    const tallies = new Map<string, Tally>();
    const tallyOf = (s: Subject): Tally => {
      let t = tallies.get(s.name);
      if (!t) tallies.set(s.name, (t = newTally()));
      return t;
    };
    try {
      if (fault.startsDown) await fault.start(env);
      all = subjects(env.proxy, tag);
      if (!fault.startsDown) {
        // Warm: connected and decided by Redis before the fault.
        for (const s of all) {
          let warm = 'policy';
          for (let i = 0; i < 50 && warm !== 'redis'; i += 1) {
            warm = await probe(s, `warm${i}`, newTally());
            if (warm !== 'redis') await sleep(20);
          }
          assert.equal(warm, 'redis', `${s.name} warmed up`);
        }
        await fault.start(env);
      }
      // During the fault: waves of 10 checks per subject every 50 ms.
      loop.enable();
      const end = performance.now() + FAULT_MS;
      const inFlight: Promise<unknown>[] = [];
      for (let wave = 0; performance.now() < end; wave += 1) {
        for (const s of all) for (let i = 0; i < 10; i += 1) inFlight.push(probe(s, `f${wave}:${i}`, tallyOf(s)));
        await sleep(50);
      }
      await Promise.all(inFlight);
      await fault.heal(env);
      loop.disable();
      const healed = performance.now();
      // After healing: one check per subject every 20 ms until Redis decides it.
      await Promise.all(
        all.map(async (s) => {
          const t = tallyOf(s);
          const scratch = newTally();
          for (let i = 0; performance.now() - healed < 5000; i += 1) {
            if ((await probe(s, `h${i}`, scratch)) === 'redis') {
              t.recoveryMs = performance.now() - healed;
              break;
            }
            await sleep(20);
          }
          t.bad.push(...scratch.bad);
          t.slowestHealed = scratch.slowest;
          t.slowest = Math.max(t.slowest, scratch.slowest);
        }),
      );
      // Exactly 50 of 200 concurrent checks at burst 50, all decided by Redis. Redis never allows more
      // than 50; a check past its 300 ms deadline because this process was starved (other test runs on
      // the 2 cores) is answered by policy instead, so a round with such answers is repeated on a fresh
      // key, at most three times (the diagnostics show how many rounds it took).
      const burst = perMinute(50);
      for (const s of all) {
        let outcome: number[] = [];
        for (let round = 1; round <= 3; round += 1) {
          const results = await Promise.all(Array.from({ length: 200 }, () => s.limiter.allow(`after${round}`, burst)));
          const byRedis = results.filter((r) => r.reason === undefined);
          assert.ok(byRedis.filter((r) => r.allowed).length <= 50, `${s.name}: Redis allowed more than the burst`);
          outcome = [byRedis.filter((r) => r.allowed).length, byRedis.length];
          tallyOf(s).rounds = round;
          if (byRedis.length === 200) break;
        }
        assert.deepEqual(outcome, [50, 200], `${s.name}: allowed / decided by Redis after healing`);
      }
    } finally {
      clearInterval(env.timer);
      await Promise.all(all.map((s) => s.store.close()));
      for (const s of all) s.client?.disconnect();
    }
    // The longest event-loop stall during the fault (histogram in ns; minus the 10 ms sampling interval).
    const stall = Math.max(0, loop.max / 1e6 - 10);
    for (const s of all) {
      const t = tallyOf(s);
      rows.push(
        `| ${fault.name} | ${s.name} | ${t.redis} | ${t.policy} | ${t.thrown} | ${Math.round(t.slowest)} | ${Math.round(t.slowestHealed)} | ${Math.round(stall)} | ${Number.isNaN(t.recoveryMs) ? '-' : Math.round(t.recoveryMs)} | ${t.rounds} |`,
      );
    }
    for (const s of all) {
      const t = tallyOf(s);
      assert.deepEqual(t.bad, [], `${fault.name} ${s.name}: unexpected answers`);
      // A stall of the whole process longer than the slack left by the fault makes deadlines pass for
      // reasons of this machine, not of the store: then the diagnostics show it instead.
      if (fault.redisOnly && stall < 100) assert.equal(t.policy + t.thrown, 0, `${fault.name} ${s.name}: every check was decided by Redis`);
      assert.ok(
        t.slowest <= SETTLE_BOUND + stall,
        `${fault.name} ${s.name}: slowest check settled in ${Math.round(t.slowest)} ms (bound ${SETTLE_BOUND} + event-loop stall ${Math.round(stall)})`,
      );
      assert.ok(t.recoveryMs <= RECOVERY_BOUND, `${fault.name} ${s.name}: decided by Redis again ${Math.round(t.recoveryMs)} ms after healing`);
    }
  }

  const proxyFaults: FaultCase[] = [
    // 25 ms each way: a 50 ms round trip, inside the 300 ms deadline even behind a full pipeline.
    { name: 'latency 25 ms', redisOnly: true, start: ({ proxy }) => proxy.set('latency', 25), heal: ({ proxy }) => proxy.set('none') },
    { name: 'black-hole', start: ({ proxy }) => proxy.set('blackhole'), heal: ({ proxy }) => proxy.set('none') },
    { name: 'tarpit', start: ({ proxy }) => proxy.set('tarpit'), heal: ({ proxy }) => proxy.set('none') },
    {
      name: 'resets every 100 ms',
      start: (env) => {
        env.proxy.resetAll();
        env.timer = setInterval(() => env.proxy.resetAll(), 100);
      },
      heal: (env) => clearInterval(env.timer),
    },
    { name: 'refused', start: ({ proxy }) => proxy.set('refuse'), heal: ({ proxy }) => proxy.set('none') },
    { name: 'down at start', startsDown: true, start: ({ proxy }) => proxy.set('refuse'), heal: ({ proxy }) => proxy.set('none') },
    {
      name: 'CLIENT PAUSE',
      start: async ({ admin }) => {
        await admin.call('CLIENT', 'PAUSE', String(FAULT_MS), 'ALL');
      },
      heal: async ({ admin }) => {
        await admin.ping(); // answered once the pause is over
      },
    },
    {
      name: 'SIGSTOP',
      start: async (env) => {
        process.kill(await redisPid(env.admin), 'SIGSTOP');
      },
      heal: async (env) => {
        // The admin connection cannot ask a stopped server: the pid was read before.
        process.kill(stoppedPid, 'SIGCONT');
        await env.admin.ping();
      },
    },
    {
      name: 'SCRIPT FLUSH every 100 ms',
      redisOnly: true,
      start: (env) => {
        env.timer = setInterval(() => void env.admin.script('FLUSH').catch(() => undefined), 100);
      },
      heal: (env) => clearInterval(env.timer),
    },
    {
      name: 'maxmemory OOM',
      start: async ({ admin }) => {
        await admin.config('SET', 'maxmemory', '1');
      },
      heal: async ({ admin }) => {
        await admin.config('SET', 'maxmemory', '0');
      },
    },
  ];
  let stoppedPid = 0;

  for (const fault of proxyFaults) {
    it(`${fault.name}: settles in time, answers by policy, recovers within 1 s, exact afterwards`, { timeout: 30_000 }, async () => {
      const proxy = await startFaultProxy(redis.port);
      if (fault.name === 'SIGSTOP') stoppedPid = await redisPid(admin);
      try {
        await runFault(fault, { proxy, admin }, fault.name.replace(/\W+/g, '-'));
      } finally {
        await proxy.close();
      }
    });
  }

  it('SIGKILL and restart on the same port: settles in time, recovers within 1 s, exact afterwards', { timeout: 30_000 }, async () => {
    const own = await startRedis();
    const ownAdmin = own.client();
    const proxy = await startFaultProxy(own.port);
    let restarted: ChildProcess | undefined;
    const kill: FaultCase = {
      name: 'SIGKILL + restart',
      start: async () => {
        process.kill(await redisPid(ownAdmin), 'SIGKILL');
      },
      heal: async () => {
        restarted = spawn('redis-server', ['--port', String(own.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
        // Healed once the new server answers (a fresh fail-fast probe each time).
        for (let i = 0; i < 200; i += 1) {
          const ping = new Redis({ port: own.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
          ping.on('error', () => undefined);
          const ok = await ping.connect().then(() => ping.ping()).then(() => true, () => false);
          ping.disconnect();
          if (ok) return;
          await sleep(10);
        }
      },
    };
    ownAdmin.on('error', () => undefined);
    try {
      await runFault(kill, { proxy, admin: ownAdmin }, 'sigkill');
    } finally {
      await proxy.close();
      ownAdmin.disconnect(); // own's process was killed: nothing else of it to stop
      if (restarted && restarted.exitCode === null) {
        const exited = new Promise((resolve) => restarted?.once('exit', resolve));
        restarted.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('with default settings (timeout 1000 ms), a tarpitted path is used again within 1 s of healing', { timeout: 30_000 }, async (t) => {
    const proxy = await startFaultProxy(redis.port);
    const client = new Redis(proxy.url);
    client.on('error', () => undefined);
    const stores = [new RedisStore({ url: proxy.url, prefix: 'fault:defaults:' }), new RedisStore({ client, prefix: 'fault:defaults:' })];
    const limiters = stores.map((store) => new Limiter({ store, onStoreError: 'open', telemetry: false }));
    try {
      for (const limiter of limiters) assert.equal((await limiter.allow('warm', BIG)).reason, undefined);
      proxy.set('tarpit');
      const end = performance.now() + 2000;
      let slowest = 0;
      for (let i = 0; performance.now() < end; i += 1) {
        await Promise.all(
          limiters.map(async (limiter) => {
            const started = performance.now();
            assert.equal((await limiter.allow(`t${i}`, BIG)).reason, 'open');
            slowest = Math.max(slowest, performance.now() - started);
          }),
        );
        await sleep(50);
      }
      proxy.set('none');
      const healed = performance.now();
      const recovery = await Promise.all(
        limiters.map(async (limiter) => {
          for (let i = 0; performance.now() - healed < 5000; i += 1) {
            if ((await limiter.allow(`h${i}`, BIG)).reason === undefined) return performance.now() - healed;
            await sleep(20);
          }
          return Infinity;
        }),
      );
      t.diagnostic(`slowest check ${Math.round(slowest)} ms (deadline 1000 ms); back on Redis after ${recovery.map(Math.round).join(' / ')} ms (owned / borrowed)`);
      for (const ms of recovery) assert.ok(ms <= RECOVERY_BOUND, `back on Redis ${Math.round(ms)} ms after healing`);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      client.disconnect();
      await proxy.close();
    }
  });

  it('left no unhandled rejection; per-fault figures', async (t) => {
    await sleep(50);
    t.diagnostic('| fault | client/policy | by Redis | by policy | thrown | slowest ms | slowest after healing ms | longest event-loop stall ms | back on Redis after ms | rounds for 50 of 200 |');
    for (const row of rows) t.diagnostic(row);
    assert.deepEqual(unhandled, []);
  });
});
