/**
 * The benchmarks' helpers (bench/lib/): statistics, INFO parsing, the
 * SVG chart, same-round ratios, the closed-loop runner's bounds, the HTTP CPU
 * arithmetic, the paced generator's response reader and schedule, and the naive
 * GCRA baseline script against a real redis-server. No timings are asserted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constants } from 'node:perf_hooks';
import { resolveLimit } from '../src/index.js';
import { addedCosts, addedRatio, type CpuRun, perRequest } from '../bench/lib/cpu-cost.js';
import { ResponseReader, dueAt, dueCount } from '../bench/lib/http-responses.js';
import { type FloorRow, type ItemRow, floorOfRound, summarizeFloor } from '../bench/lib/floor.js';
import { parseFlags } from '../bench/lib/flags.js';
import { runLoad, sumGc } from '../bench/lib/load.js';
import { NaiveGcra } from '../bench/lib/naive-gcra.js';
import { commandDelta, measuredWindow, parseCommandStats, parseCpuUs, startBenchRedis } from '../bench/lib/redis.js';
import { LatencyHistogram } from '../bench/lib/histogram.js';
import { median, ratio } from '../bench/lib/stats.js';
import { type RunRecord, evaluateTargets, floorTable, summarize } from '../bench/lib/store-report.js';
import { barChartSvg, compact } from '../bench/lib/svg.js';
import { useRedis } from './helpers/redis-server.js';

describe('bench stats', () => {
  it('median of odd and even counts, ignoring non-finite values', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([5, NaN, 1, Infinity, 3]), 3);
    assert.ok(Number.isNaN(median([])));
  });

  it('histogram percentiles are nearest-rank within half a bucket (0.5%)', () => {
    const h = new LatencyHistogram();
    assert.ok(Number.isNaN(h.percentile(50)));
    for (const v of [9, 1, 8, 2, 7, 3, 6, 4, 5, 10]) h.record(v);
    assert.equal(h.count, 10);
    const near = (got: number, want: number): void => assert.ok(Math.abs(got - want) <= want * 0.005, `${got} vs ${want}`);
    near(h.percentile(50), 5);
    near(h.percentile(99), 10);
    near(h.percentile(10), 1);
    near(h.percentile(0), 1);
    h.clear();
    assert.equal(h.count, 0);
    assert.ok(Number.isNaN(h.percentile(50)));
  });

  it('histogram agrees with exact percentiles over a wide spread of latencies', () => {
    const h = new LatencyHistogram();
    const xs: number[] = [];
    let seed = 7;
    for (let i = 0; i < 20_000; i += 1) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const v = 0.002 * Math.exp((seed / 2147483648) * 14); // 2 µs .. ~2.4 s, log-uniform
      xs.push(v);
      h.record(v);
    }
    xs.sort((a, b) => a - b);
    for (const p of [1, 25, 50, 90, 99, 99.9, 100]) {
      const exact = xs[Math.max(1, Math.ceil((p / 100) * xs.length)) - 1] as number;
      const got = h.percentile(p);
      assert.ok(Math.abs(got - exact) <= exact * 0.011, `p${p}: ${got} vs ${exact}`);
    }
  });

  it('histogram puts sub-µs, negative and overflowing values in its end buckets', () => {
    const h = new LatencyHistogram();
    h.record(-1);
    h.record(0.0001);
    h.record(1e9);
    h.record(Number.NaN);
    assert.equal(h.percentile(50), 0);
    assert.equal(h.percentile(100), Infinity);
  });

  it('ratio is NaN when undefined', () => {
    assert.equal(ratio(6, 3), 2);
    assert.ok(Number.isNaN(ratio(1, 0)));
    assert.ok(Number.isNaN(ratio(NaN, 1)));
  });
});

describe('bench INFO parsing', () => {
  it('adds user and system CPU seconds into µs', () => {
    const info = '# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.000001\r\nused_cpu_sys_children:0.000000\r\n';
    assert.equal(parseCpuUs(info), 3_250_001);
  });

  it('reads calls and usec per command and takes deltas', () => {
    const a = { cpuUs: 0, commands: parseCommandStats('cmdstat_evalsha:calls=10,usec=80,usec_per_call=8.00,rejected_calls=0,failed_calls=0\r\ncmdstat_get:calls=4,usec=2,usec_per_call=0.5\r\n') };
    const b = { cpuUs: 0, commands: parseCommandStats('cmdstat_evalsha:calls=15,usec=120,usec_per_call=8.00\r\ncmdstat_get:calls=9,usec=5\r\ncmdstat_set:calls=1,usec=1\r\n') };
    assert.deepEqual(commandDelta(a, b, 'evalsha'), { calls: 5, usec: 40 });
    assert.deepEqual(commandDelta(a, b, 'set'), { calls: 1, usec: 1 });
    assert.deepEqual(commandDelta(a, b, 'incrby'), { calls: 0, usec: 0 });
  });
});

describe('bench SVG chart', () => {
  it('draws one bar per finite value with its label and note, and escapes text', () => {
    const svg = barChartSvg({
      title: 'a < b & c',
      groups: ['C = 1', 'C = 64'],
      yLabel: 'checks/s',
      series: [
        { name: 'x', color: '#123456', values: [1000, 250_000], notes: [undefined, '2.50x'] },
        { name: 'y', color: '#654321', values: [NaN, 100_000] },
      ],
    });
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('a &lt; b &amp; c'));
    assert.equal((svg.match(/fill="#123456"/g) ?? []).length, 3); // 2 bars + legend
    assert.equal((svg.match(/fill="#654321"/g) ?? []).length, 2); // 1 bar + legend
    assert.ok(svg.includes('>2.50x<'));
    assert.ok(svg.includes('>250k<'));
    assert.equal(compact(1_234_567), '1.23M');
    assert.equal(compact(0), '0');
  });
});

function run(round: number, lib: RunRecord['lib'], checksPerSec: number, p99Ms: number): RunRecord {
  return {
    round,
    profile: 'pass',
    concurrency: 64,
    lib,
    checks: 1000,
    denied: 0,
    errors: 0,
    elapsedMs: 1000,
    checksPerSec,
    p50Ms: 1,
    p99Ms,
    nodeCpuMsPer100k: 100,
    redisCpuMsPer100k: 200,
    reachedRedis: 1,
    scriptCalls: 10,
    checksPerScriptCall: 100,
    scriptUsPerCheck: 2,
    gcMsPer100k: 50,
    loadavg1: 1,
  };
}

describe('bench report', () => {
  it('takes ratios within a round, then the median over rounds', () => {
    // Round 2 is uniformly slower: per-round ratios stay 2, 2, 2 although medians of raw figures differ.
    const runs = [
      run(1, 'tollgate', 200, 1),
      run(1, 'rlf', 100, 2),
      run(2, 'tollgate', 20, 10),
      run(2, 'rlf', 10, 20),
      run(3, 'tollgate', 400, 1),
      run(3, 'rlf', 200, 2),
    ];
    const rows = summarize(runs);
    const t = rows.find((r) => r.lib === 'tollgate');
    assert.ok(t);
    assert.equal(t.median.checksPerSec, 200);
    assert.equal(t.ratios.rlf?.checksPerSec, 2);
    assert.equal(t.ratios.rlf?.p99Ms, 0.5);
    const targets = evaluateTargets(rows, []);
    const c64 = targets.find((x) => x.target.startsWith('all pass, C=64: checks/s'));
    assert.equal(c64?.met, true);
    assert.equal(targets.find((x) => x.target.startsWith('all pass, C=512'))?.met, undefined);
  });
});

describe('bench HTTP CPU arithmetic', () => {
  const cpuRun = (round: number, variant: string, serverCpuUs: number, redisCpuUs: number): CpuRun => ({ round, variant, serverCpuUs, redisCpuUs });

  it('CPU per request from two readings, NaN without requests', () => {
    assert.deepEqual(perRequest({ serverUs: 1_000, redisUs: 50 }, { serverUs: 21_000, redisUs: 4_050 }, 200), { serverCpuUs: 100, redisCpuUs: 20 });
    const none = perRequest({ serverUs: 0, redisUs: 0 }, { serverUs: 5, redisUs: 5 }, 0);
    assert.ok(Number.isNaN(none.serverCpuUs) && Number.isNaN(none.redisCpuUs));
  });

  it('added CPU is taken against the baseline of the same round, then the median', () => {
    // Round 2 is slower for every server alike: its differences are what they are in rounds 1 and 3.
    const runs = [
      cpuRun(1, 'none', 60, 1),
      cpuRun(1, 'tollgate', 70, 11),
      cpuRun(1, 'peer', 100, 31),
      cpuRun(2, 'none', 160, 3),
      cpuRun(2, 'tollgate', 172, 15),
      cpuRun(2, 'peer', 196, 33),
      cpuRun(3, 'none', 62, 1),
      cpuRun(3, 'tollgate', 70, 9),
      cpuRun(3, 'peer', 102, 27),
    ];
    const costs = addedCosts(runs, 'none');
    const t = costs.find((c) => c.variant === 'tollgate');
    assert.deepEqual(t?.addedServerByRound, [10, 12, 8]);
    assert.deepEqual(t?.addedRedisByRound, [10, 12, 8]);
    assert.equal(t?.addedServerUs, 10);
    assert.equal(t?.serverCpuUs, 70);
    assert.deepEqual(costs.find((c) => c.variant === 'none')?.addedServerByRound, [0, 0, 0]);
    const r = addedRatio(runs, 'none', 'tollgate', 'peer');
    assert.deepEqual(r.serverByRound, [0.25, 12 / 36, 0.2]);
    assert.deepEqual(r.redisByRound, [1 / 3, 0.4, 8 / 26]);
    assert.equal(r.server, 0.25);
    assert.equal(r.redis, 1 / 3);
  });

  it('a round without a baseline or with nothing added by the reference gives no ratio', () => {
    const runs = [cpuRun(1, 'tollgate', 70, 10), cpuRun(1, 'peer', 90, 20), cpuRun(2, 'none', 60, 1), cpuRun(2, 'tollgate', 70, 5), cpuRun(2, 'peer', 60, 11)];
    const r = addedRatio(runs, 'none', 'tollgate', 'peer');
    assert.ok(Number.isNaN(r.serverByRound[0] as number) && Number.isNaN(r.serverByRound[1] as number));
    assert.ok(Number.isNaN(r.server));
    assert.equal(r.redis, 0.4);
  });
});

describe('bench paced load', () => {
  const response = (status: number, body: string, extra = ''): Buffer =>
    Buffer.from(`HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

  it('reads responses split anywhere, several in one chunk', () => {
    const bytes = Buffer.concat([response(200, '{"hello":"world"}'), response(429, 'slow down'), response(204, '')]);
    for (const size of [1, 2, 7, 64, bytes.length]) {
      const reader = new ResponseReader();
      const seen: number[] = [];
      for (let i = 0; i < bytes.length; i += size) seen.push(...reader.feed(bytes.subarray(i, i + size)));
      assert.deepEqual(seen, [200, 429, 204], `chunks of ${size}`);
    }
  });

  it('refuses what it cannot count', () => {
    assert.throws(() => new ResponseReader().feed(Buffer.from('SSH-2.0\r\n\r\n')), /not an HTTP/);
    assert.throws(() => new ResponseReader().feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')), /chunked/);
  });

  it('an open-loop schedule: one due at once, then one per 1/rate', () => {
    assert.equal(dueCount(-1, 2000), 0);
    assert.equal(dueCount(0, 2000), 1);
    assert.equal(dueCount(0.49, 2000), 1);
    assert.equal(dueCount(0.5, 2000), 2);
    assert.equal(dueCount(1000, 2000), 2001);
    assert.equal(dueAt(3, 2000), 1.5);
    assert.equal(dueCount(dueAt(999, 300), 300), 1000);
  });
});

function floorRow(round: number, pairs: number, redisCpuUs: number): FloorRow {
  return { round, pairs, inFlight: 4, pairsPerSec: 1000, redisCpuUs, commandUs: redisCpuUs / 2, nodeCpuUs: 1 };
}

function itemRow(round: number, item: ItemRow['item'], redisCpuUs: number): ItemRow {
  return { round, item, concurrency: 512, checksPerSec: 1000, redisCpuUs, callsPerCheck: 0.01, failed: 0 };
}

describe('bench native floor', () => {
  it("takes a round's floor as the lowest Redis CPU per pair over its pipeline sizes", () => {
    const rows = [floorRow(1, 32, 2.4), floorRow(1, 128, 2), floorRow(2, 32, 4), floorRow(2, 128, 0), floorRow(2, 64, NaN)];
    assert.equal(floorOfRound(rows, 1), 2);
    assert.equal(floorOfRound(rows, 2), 4); // 0 and NaN are not measurements
    assert.ok(Number.isNaN(floorOfRound(rows, 3)));
  });

  it('ratios to the floor are taken within a round, then the median; compound checks also per key', () => {
    // Round 2 is uniformly twice as slow: the ratios stay 1.5 (single) and 3 (compound).
    const floors = [floorRow(1, 32, 3), floorRow(1, 128, 2), floorRow(2, 128, 4), floorRow(3, 128, 2)];
    const items = [itemRow(1, 'single', 3), itemRow(2, 'single', 6), itemRow(3, 'single', 3), itemRow(1, 'compound', 6), itemRow(2, 'compound', 12), itemRow(3, 'compound', 6)];
    const s = summarizeFloor(floors, items);
    assert.equal(s.floorUs, 2);
    const single = s.items.find((i) => i.item === 'single');
    const compound = s.items.find((i) => i.item === 'compound');
    assert.equal(single?.ratio, 1.5);
    assert.equal(single?.redisCpuUs, 3);
    assert.equal(compound?.ratio, 3);
    assert.equal(compound?.ratioPerKey, 1.5);
    assert.deepEqual(
      s.floors.map((f) => [f.pairs, f.redisCpuUs]),
      [
        [32, 3],
        [128, 2],
      ],
    );
    const targets = evaluateTargets([], [], s);
    const target = targets.find((t) => t.target.startsWith('Redis CPU per single-limit check'));
    assert.equal(target?.met, true);
    assert.equal(targets.find((t) => t.target.includes('two GCRA limits'))?.met, undefined);
    const md = floorTable(s);
    assert.ok(md.includes('| two GCRA limits (limiter.allowAll) | 512 |'));
    assert.ok(md.includes('3.00x | 1.50x |'));
  });

  it('misses the target when a single check costs more than 1.5x the floor', () => {
    const s = summarizeFloor([floorRow(1, 128, 2)], [itemRow(1, 'single', 3.2)]);
    assert.equal(evaluateTargets([], [], s).find((t) => t.target.startsWith('Redis CPU per single-limit check'))?.met, false);
  });
});

describe('bench GC pauses', () => {
  it('sums pause durations and counts major collections', () => {
    const g = sumGc([
      { duration: 1.5, detail: { kind: constants.NODE_PERFORMANCE_GC_MINOR } },
      { duration: 10, detail: { kind: constants.NODE_PERFORMANCE_GC_MAJOR } },
      { duration: 0.5 },
    ]);
    assert.deepEqual(g, { count: 3, ms: 12, major: 1 });
    assert.deepEqual(sumGc([]), { count: 0, ms: 0, major: 0 });
  });
});

describe('bench closed loop', () => {
  it('stops at the count bound and counts outcomes and errors', async () => {
    let n = 0;
    const r = await runLoad({
      concurrency: 8,
      durationMs: 10_000,
      maxChecks: 100,
      nextKey: () => `k${n}`,
      check: async () => {
        n += 1;
        if (n % 10 === 0) throw new Error('boom');
        return n % 2 === 0;
      },
    });
    assert.equal(r.checks, 100);
    assert.equal(r.errors, 10);
    assert.equal(r.allowed + r.denied + r.errors, 100);
    assert.ok(r.p50Ms <= r.p99Ms);
  });

  it('stops at the time bound', async () => {
    const r = await runLoad({ concurrency: 2, durationMs: 50, maxChecks: 1e9, nextKey: () => 'k', check: () => new Promise((res) => setTimeout(() => res(true), 5)) });
    assert.ok(r.checks > 0 && r.checks < 100, `checks ${r.checks}`);
  });
});

describe('naive GCRA baseline script', () => {
  const redis = useRedis();

  it('allows the burst, then denies, and takes a whole burst at once', async () => {
    const limit = resolveLimit({ rate: 5, period: 60_000 });
    const gcra = new NaiveGcra(redis.client(), { interval: limit.interval, burst: limit.burst });
    const seen: boolean[] = [];
    for (let i = 0; i < 7; i += 1) seen.push(await gcra.check('a'));
    assert.deepEqual(seen, [true, true, true, true, true, false, false]);
    assert.equal(await gcra.check('b', 5), true);
    assert.equal(await gcra.check('b'), false);
    assert.equal(await gcra.check('c', 6), false);
    const ttl = await redis.client().pttl('naive:b');
    assert.ok(ttl > 59_000 && ttl <= 60_000, `pttl ${ttl}`);
  });

  it('falls back to EVAL after SCRIPT FLUSH', async () => {
    const client = redis.client();
    await client.script('FLUSH');
    const gcra = new NaiveGcra(client, { interval: 1000, burst: 2 });
    assert.equal(await gcra.check('flush'), true);
  });
});

describe('bench flags', () => {
  it('reads --name=value and bare --name, and integers >= 1 only', () => {
    const { flag, intFlag } = parseFlags(['--quick', '--rounds=5', '--rate=2000,fastify:5000', '--bad=1.5', '--zero=0']);
    assert.equal(flag('quick'), '');
    assert.equal(flag('rate'), '2000,fastify:5000');
    assert.equal(flag('round'), undefined, 'a prefix of another flag is not that flag');
    assert.equal(intFlag('rounds'), 5);
    assert.equal(intFlag('missing'), undefined);
    assert.throws(() => intFlag('bad'), /--bad must be an integer >= 1, got "1.5"/);
    assert.throws(() => intFlag('zero'), /--zero must be an integer >= 1, got "0"/);
  });
});

describe('bench measured window', () => {
  it('reads the server counters around the run and passes its result through', async () => {
    const redis = await startBenchRedis();
    try {
      const client = redis.client();
      const w = await measuredWindow(redis, async () => {
        for (let i = 0; i < 25; i += 1) await client.set(`w${i}`, 'v');
        return 'done';
      });
      assert.equal(w.result, 'done');
      assert.equal(commandDelta(w.before, w.after, 'set').calls, 25);
      assert.ok(w.after.cpuUs >= w.before.cpuUs);
      assert.ok(w.elapsedMs > 0 && w.nodeCpuUs > 0);
    } finally {
      await redis.stop();
    }
  });
});
