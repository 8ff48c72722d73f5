/**
 * Turns the store benchmark's raw runs into medians and same-round ratios,
 * checks them against the targets of issue 3, and renders the markdown
 * tables and the SVG chart that the README shows.
 */
import type { ContenderId } from './contenders.js';
import type { ScalingRow } from './deny-scaling.js';
import { type FloorSummary, ITEM_LABELS } from './floor.js';
import type { ScriptCostRow } from './script-cost.js';
import { median, ratio } from './stats.js';
import { barChartSvg, compact } from './svg.js';

/** Traffic profile: every check passes, or nearly every check is denied. */
export type ProfileId = 'pass' | 'deny';

/** The figures compared across libraries. */
export interface Figures {
  /** Checks per second. */
  readonly checksPerSec: number;
  /** Median latency, ms. */
  readonly p50Ms: number;
  /** 99th percentile latency, ms. */
  readonly p99Ms: number;
  /** Node process CPU per 100k checks, ms. */
  readonly nodeCpuMsPer100k: number;
  /** redis-server CPU per 100k checks, ms. */
  readonly redisCpuMsPer100k: number;
}

/** One measured run: one library, one profile, one concurrency, one round. */
export interface RunRecord extends Figures {
  /** Round number, from 1. */
  readonly round: number;
  /** Traffic profile. */
  readonly profile: ProfileId;
  /** In-flight checks. */
  readonly concurrency: number;
  /** Library. */
  readonly lib: ContenderId;
  /** Checks completed. */
  readonly checks: number;
  /** Checks denied. */
  readonly denied: number;
  /** Checks that threw. */
  readonly errors: number;
  /** Message of the first error, if any. */
  readonly firstError?: string;
  /** Wall time of the measurement, ms. */
  readonly elapsedMs: number;
  /** Share of checks that reached Redis (the rest were answered locally). */
  readonly reachedRedis: number;
  /** Script calls (EVALSHA + EVAL) made. */
  readonly scriptCalls: number;
  /** Checks that reached Redis per script call (the batch size). */
  readonly checksPerScriptCall: number;
  /** Script execution µs (INFO commandstats) per check that reached Redis. */
  readonly scriptUsPerCheck: number;
  /** Garbage-collector pauses of the bench process during the window, ms per 100k checks. */
  readonly gcMsPer100k: number;
  /** 1-minute load average of the machine when the window started. */
  readonly loadavg1: number;
}

/** Medians over rounds for one (profile, concurrency, library). */
export interface SummaryRow {
  /** Traffic profile. */
  readonly profile: ProfileId;
  /** In-flight checks. */
  readonly concurrency: number;
  /** Library. */
  readonly lib: ContenderId;
  /** Rounds measured. */
  readonly rounds: number;
  /** Median figures. */
  readonly median: Figures & {
    readonly reachedRedis: number;
    readonly checksPerScriptCall: number;
    readonly scriptUsPerCheck: number;
    readonly deniedShare: number;
    readonly gcMsPer100k: number;
    readonly loadavg1: number;
  };
  /** Errors over all rounds. */
  readonly errors: number;
  /** Median of same-round ratios to each rate-limiter-flexible variant measured in the profile. */
  readonly ratios: Partial<Record<'rlf' | 'rlf-block', Figures>>;
}

/** The reference library of a profile: ratios in the tables are to this one. */
export function referenceOf(profile: ProfileId): 'rlf' | 'rlf-block' {
  return profile === 'pass' ? 'rlf' : 'rlf-block';
}

const FIGURES: readonly (keyof Figures)[] = ['checksPerSec', 'p50Ms', 'p99Ms', 'nodeCpuMsPer100k', 'redisCpuMsPer100k'];

function mapFigures(f: (k: keyof Figures) => number): Figures {
  return Object.fromEntries(FIGURES.map((k) => [k, f(k)])) as unknown as Figures;
}

/** Medians and same-round ratios for every (profile, concurrency, library). */
export function summarize(runs: readonly RunRecord[]): SummaryRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = `${r.profile}|${r.concurrency}|${r.lib}`;
    const list = groups.get(k) ?? [];
    list.push(r);
    groups.set(k, list);
  }
  const rows: SummaryRow[] = [];
  for (const list of groups.values()) {
    const first = list[0] as RunRecord;
    const ratios: Partial<Record<'rlf' | 'rlf-block', Figures>> = {};
    for (const ref of ['rlf', 'rlf-block'] as const) {
      const refRuns = runs.filter((r) => r.profile === first.profile && r.concurrency === first.concurrency && r.lib === ref);
      if (refRuns.length === 0) continue;
      ratios[ref] = mapFigures((k) =>
        median(
          list.map((r) => {
            const same = refRuns.find((x) => x.round === r.round);
            return same ? ratio(r[k], same[k]) : NaN;
          }),
        ),
      );
    }
    const m = (f: (r: RunRecord) => number): number => median(list.map(f));
    rows.push({
      profile: first.profile,
      concurrency: first.concurrency,
      lib: first.lib,
      rounds: list.length,
      median: {
        ...mapFigures((k) => m((r) => r[k])),
        reachedRedis: m((r) => r.reachedRedis),
        checksPerScriptCall: m((r) => r.checksPerScriptCall),
        scriptUsPerCheck: m((r) => r.scriptUsPerCheck),
        gcMsPer100k: m((r) => r.gcMsPer100k),
        loadavg1: m((r) => r.loadavg1),
        deniedShare: m((r) => (r.checks > 0 ? r.denied / r.checks : NaN)),
      },
      errors: list.reduce((s, r) => s + r.errors, 0),
      ratios,
    });
  }
  const libOrder: ContenderId[] = ['tollgate', 'rlf', 'rlf-block', 'naive'];
  return rows.sort(
    (a, b) =>
      (a.profile === b.profile ? 0 : a.profile === 'pass' ? -1 : 1) ||
      a.concurrency - b.concurrency ||
      libOrder.indexOf(a.lib) - libOrder.indexOf(b.lib),
  );
}

/** Medians of the denied-key scaling rows per (library, level). */
export interface ScalingSummary {
  /** Library. */
  readonly lib: string;
  /** Denied keys held. */
  readonly level: number;
  /** How the level was reached. */
  readonly fill: string;
  /** Median inserts/s. */
  readonly insertPerSec: number;
  /** Median Node CPU µs per insert. */
  readonly insertCpuUs: number;
  /** Median lookups/s. */
  readonly lookupPerSec: number;
  /** Median Node CPU µs per lookup. */
  readonly lookupCpuUs: number;
  /** Median share of lookups answered locally. */
  readonly lookupLocal: number;
  /** Median share of checks denied. */
  readonly deniedShare: number;
}

/** Medians of the scaling rows. */
export function summarizeScaling(rows: readonly ScalingRow[]): ScalingSummary[] {
  const keys = [...new Set(rows.map((r) => `${r.lib}|${r.level}`))];
  return keys.map((k) => {
    const list = rows.filter((r) => `${r.lib}|${r.level}` === k);
    const first = list[0] as ScalingRow;
    const m = (f: (r: ScalingRow) => number): number => median(list.map(f));
    return {
      lib: first.lib,
      level: first.level,
      fill: first.fill,
      insertPerSec: m((r) => r.insertPerSec),
      insertCpuUs: m((r) => r.insertCpuUs),
      lookupPerSec: m((r) => r.lookupPerSec),
      lookupCpuUs: m((r) => r.lookupCpuUs),
      lookupLocal: m((r) => r.lookupLocal),
      deniedShare: m((r) => r.deniedShare),
    };
  });
}

/** Medians of script-cost rows per (script, batch). */
export function summarizeScriptCost(rows: readonly ScriptCostRow[]): ScriptCostRow[] {
  const keys = [...new Set(rows.map((r) => `${r.script}|${r.batch}`))];
  return keys.map((k) => {
    const list = rows.filter((r) => `${r.script}|${r.batch}` === k);
    const first = list[0] as ScriptCostRow;
    const m = (f: (r: ScriptCostRow) => number): number => median(list.map(f));
    return {
      script: first.script,
      batch: first.batch,
      inFlight: first.inFlight,
      checksPerSec: m((r) => r.checksPerSec),
      redisCpuUs: m((r) => r.redisCpuUs),
      scriptUs: m((r) => r.scriptUs),
      nodeCpuUs: m((r) => r.nodeCpuUs),
    };
  });
}

/** Script cost table: tollgate's script per batch size next to per-call scripts. */
export function scriptCostTable(rows: readonly ScriptCostRow[]): string {
  const head =
    '| script | checks per call | checks/s | Redis CPU µs/check (INFO cpu) | script µs/check (commandstats) | Node CPU µs/check |\n' +
    '|---|---:|---:|---:|---:|---:|\n';
  const body = rows
    .map((r) => `| ${r.script === 'tollgate gcra.lua' ? 'tollgate lua/gcra.lua' : labelOf(r.script)} | ${r.batch} | ${compact(r.checksPerSec)} | ${num(r.redisCpuUs, 2)} | ${num(r.scriptUs, 2)} | ${num(r.nodeCpuUs, 2)} |`)
    .join('\n');
  return head + body + '\n';
}

/** One target of issue 3 with its measured value. */
export interface TargetResult {
  /** What is required. */
  readonly target: string;
  /** What was measured. */
  readonly measured: string;
  /** Whether it is met (undefined when it could not be measured). */
  readonly met: boolean | undefined;
}

function find(rows: readonly SummaryRow[], profile: ProfileId, c: number, lib: ContenderId): SummaryRow | undefined {
  return rows.find((r) => r.profile === profile && r.concurrency === c && r.lib === lib);
}

const x = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);

/** Flat means: an insert at the largest level costs at most this many times one at the smallest. */
export const FLAT_FACTOR = 1.5;

/** The bound of issue 15's target 1: Redis CPU per single-limit check at most this many times the native floor. */
export const FLOOR_FACTOR = 1.5;

/** Evaluates the Targets of issues 3 and 15 from the medians (the floor target only when `floor` is given). */
export function evaluateTargets(rows: readonly SummaryRow[], scaling: readonly ScalingSummary[], floor?: FloorSummary): TargetResult[] {
  const out: TargetResult[] = [];
  const t = (profile: ProfileId, c: number): SummaryRow | undefined => find(rows, profile, c, 'tollgate');
  const atLeast = (v: number | undefined, bound: number): boolean | undefined => (v === undefined || !Number.isFinite(v) ? undefined : v >= bound);
  const atMost = (v: number | undefined, bound: number): boolean | undefined => (v === undefined || !Number.isFinite(v) ? undefined : v <= bound);

  const p512 = t('pass', 512)?.ratios.rlf?.checksPerSec;
  out.push({ target: 'all pass, C=512: checks/s >= 3x rate-limiter-flexible', measured: x(p512), met: atLeast(p512, 3) });
  const p64 = t('pass', 64)?.ratios.rlf;
  out.push({ target: 'all pass, C=64: checks/s >= 2x rate-limiter-flexible', measured: x(p64?.checksPerSec), met: atLeast(p64?.checksPerSec, 2) });
  out.push({ target: 'all pass, C=64: p99 latency <= rate-limiter-flexible', measured: x(p64?.p99Ms), met: atMost(p64?.p99Ms, 1) });
  const p1 = t('pass', 1)?.ratios.rlf?.p50Ms;
  out.push({ target: 'all pass, C=1: p50 latency <= rate-limiter-flexible', measured: x(p1), met: atMost(p1, 1) });
  const d64 = t('deny', 64)?.ratios['rlf-block']?.checksPerSec;
  out.push({ target: 'nearly all denied, C=64: checks/s >= 1.2x rate-limiter-flexible + inMemoryBlockOnConsumed', measured: x(d64), met: atLeast(d64, 1.2) });

  const tg = scaling.filter((s) => s.lib === 'tollgate').sort((a, b) => a.level - b.level);
  if (tg.length >= 2) {
    const costs = tg.map((s) => s.insertCpuUs);
    const growth = (costs[costs.length - 1] as number) / (costs[0] as number);
    const rl = scaling.filter((s) => s.lib === 'rlf-block').sort((a, b) => a.level - b.level);
    const rlGrowth = rl.length >= 2 ? (rl[rl.length - 1] as ScalingSummary).insertCpuUs / (rl[0] as ScalingSummary).insertCpuUs : NaN;
    // Without a local deny cache there is nothing to insert into: the figure would be flat trivially.
    const local = tg[0]!.lookupLocal;
    const cached = Number.isFinite(local) && local >= 0.9;
    out.push({
      target: `adding a denied key stays flat from ${compact(tg[0]!.level)} to ${compact(tg[tg.length - 1]!.level)} denied keys (Node CPU per insert grows at most ${FLAT_FACTOR}x)`,
      measured:
        `${costs.map((c) => c.toFixed(1)).join(' / ')} µs per insert (growth ${growth.toFixed(2)}x; rate-limiter-flexible's block list ${rlGrowth.toFixed(1)}x); ` +
        `lookups answered locally ${tg.map((s) => `${(s.lookupLocal * 100).toFixed(0)}%`).join(' / ')}${cached ? '' : ' (no local deny cache in effect)'}`,
      met: cached ? growth <= FLAT_FACTOR : undefined,
    });
  }
  const batchRows = [t('pass', 512), t('pass', 64)].filter((r): r is SummaryRow => r !== undefined);
  const best = batchRows.map((r) => r.median.redisCpuMsPer100k / 100).filter((v) => Number.isFinite(v));
  const cpu = best.length > 0 ? Math.min(...best) : NaN;
  out.push({
    target: 'Redis CPU per check in batches <= 3 µs (all pass, best of C=64/512)',
    measured: Number.isFinite(cpu) ? `${cpu.toFixed(2)} µs` : '-',
    met: atMost(cpu, 3),
  });
  if (floor !== undefined) {
    for (const item of floor.items) {
      const isTarget = item.item === 'single';
      out.push({
        target: isTarget
          ? `Redis CPU per single-limit check at C=${item.concurrency} <= ${FLOOR_FACTOR}x the native floor (GET + SET PX, pipelined, same round)`
          : `(reported) Redis CPU of ${ITEM_LABELS[item.item]} at C=${item.concurrency} against the native floor`,
        measured: `${num(item.redisCpuUs, 2)} µs against ${num(floor.floorUs, 2)} µs: ${x(item.ratio)}${item.keys > 1 ? ` (${x(item.ratioPerKey)} per key)` : ''}`,
        met: isTarget ? atMost(item.ratio, FLOOR_FACTOR) : undefined,
      });
    }
  }
  return out;
}

/** The native floor and each tollgate item's Redis CPU against it, in markdown. */
export function floorTable(s: FloorSummary): string {
  const floors =
    '| native pipeline | pairs/s | Redis CPU µs per GET+SET pair (INFO cpu) | GET+SET command µs per pair (commandstats) |\n|---|---:|---:|---:|\n' +
    s.floors.map((f) => `| ${f.pairs} pairs per pipeline, ${f.inFlight} in flight | ${compact(f.pairsPerSec)} | ${num(f.redisCpuUs, 2)} | ${num(f.commandUs, 2)} |`).join('\n') +
    '\n';
  const items =
    '| tollgate check (public API) | C | checks/s | script calls per check | Redis CPU µs per check | ratio to the floor | per key |\n|---|---:|---:|---:|---:|---:|---:|\n' +
    s.items
      .map((i) => `| ${ITEM_LABELS[i.item]}${i.failed > 0 ? ` (${i.failed} denied or failed)` : ''} | ${i.concurrency} | ${compact(i.checksPerSec)} | ${num(i.callsPerCheck, 3)} | ${num(i.redisCpuUs, 2)} | ${x(i.ratio)} | ${i.keys > 1 ? x(i.ratioPerKey) : '-'} |`)
      .join('\n') +
    '\n';
  return `${floors}\nFloor (lowest of the pipeline sizes, median over rounds): ${num(s.floorUs, 2)} µs of Redis CPU per GET+SET pair.\n\n${items}`;
}

const LABELS: Record<ContenderId, string> = {
  tollgate: 'tollgate',
  rlf: 'rate-limiter-flexible',
  'rlf-block': 'rate-limiter-flexible + inMemoryBlock',
  naive: 'naive GCRA (EVALSHA/check)',
};

/** Display name of a library. */
export function labelOf(lib: ContenderId | string): string {
  return LABELS[lib as ContenderId] ?? lib;
}

function num(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function withRatio(v: string, r: number | undefined, isRef: boolean): string {
  if (isRef) return `${v} (ref)`;
  return r === undefined || !Number.isFinite(r) ? v : `${v} (${r.toFixed(2)}x)`;
}

/** The reference library's median Redis CPU (ms per 100k checks) for the same profile and C. */
function refRedisCpu(rows: readonly SummaryRow[], r: SummaryRow): number {
  return find(rows, r.profile, r.concurrency, referenceOf(r.profile))?.median.redisCpuMsPer100k ?? NaN;
}

/** The main results table in markdown. */
export function mainTable(rows: readonly SummaryRow[]): string {
  const head =
    '| profile | C | library | checks/s | p50 ms | p99 ms | Node CPU ms /100k | Redis CPU ms /100k | reached Redis | checks per script call |\n' +
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n';
  const body = rows
    .map((r) => {
      const ref = referenceOf(r.profile);
      const rr = r.ratios[ref];
      const isRef = r.lib === ref;
      const m = r.median;
      const cells = [
        r.profile === 'pass' ? 'all pass' : 'nearly all denied',
        String(r.concurrency),
        labelOf(r.lib) + (r.errors > 0 ? ` (${r.errors} errors)` : ''),
        withRatio(compact(m.checksPerSec), rr?.checksPerSec, isRef),
        withRatio(num(m.p50Ms, 3), rr?.p50Ms, isRef),
        withRatio(num(m.p99Ms, 3), rr?.p99Ms, isRef),
        withRatio(num(m.nodeCpuMsPer100k, 0), rr?.nodeCpuMsPer100k, isRef),
        // A reference that barely touches Redis (a local block list) makes a Redis CPU ratio meaningless.
        withRatio(num(m.redisCpuMsPer100k, 0), refRedisCpu(rows, r) >= 1 ? rr?.redisCpuMsPer100k : undefined, isRef),
        `${num(m.reachedRedis * 100, 1)}%`,
        num(m.checksPerScriptCall, 1),
      ];
      return `| ${cells.join(' | ')} |`;
    })
    .join('\n');
  return head + body + '\n';
}

/** Redis CPU per check through each library, from the all-pass runs. */
export function redisCpuTable(rows: readonly SummaryRow[]): string {
  const head =
    '| C | library | Redis CPU µs/check (INFO cpu) | script µs/check (commandstats) | checks per script call | Node CPU µs/check | of which GC pauses µs/check | load average (1 min) |\n' +
    '|---:|---|---:|---:|---:|---:|---:|---:|\n';
  const body = rows
    .filter((r) => r.profile === 'pass')
    .map(
      (r) =>
        `| ${r.concurrency} | ${labelOf(r.lib)} | ${num(r.median.redisCpuMsPer100k / 100, 2)} | ${num(r.median.scriptUsPerCheck, 2)} | ${num(r.median.checksPerScriptCall, 1)} | ` +
        `${num(r.median.nodeCpuMsPer100k / 100, 2)} | ${num(r.median.gcMsPer100k / 100, 2)} | ${num(r.median.loadavg1, 1)} |`,
    )
    .join('\n');
  return head + body + '\n';
}

/** Denied-key scaling table. */
export function scalingTable(rows: readonly ScalingSummary[]): string {
  const head =
    '| library | denied keys held | inserts/s | Node CPU µs /insert | lookups/s | Node CPU µs /lookup | lookups answered locally | level reached by |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---|\n';
  const body = [...rows]
    .sort((a, b) => a.lib.localeCompare(b.lib) || a.level - b.level)
    .map(
      (r) =>
        `| ${labelOf(r.lib)} | ${compact(r.level)} | ${compact(r.insertPerSec)} | ${num(r.insertCpuUs, 1)} | ${compact(r.lookupPerSec)} | ${num(r.lookupCpuUs, 2)} | ${num(r.lookupLocal * 100, 1)}% | ${r.fill === 'api' ? 'checks' : 'preloaded list'} |`,
    )
    .join('\n');
  return head + body + '\n';
}

/** Targets as a markdown list. */
export function targetsList(targets: readonly TargetResult[]): string {
  return targets.map((t) => `- ${t.met === undefined ? 'n/a' : t.met ? 'MET' : 'MISSED'}: ${t.target}: measured ${t.measured}`).join('\n') + '\n';
}

const COLORS: Partial<Record<ContenderId, string>> = { tollgate: '#2b7bb9', rlf: '#e8883a', naive: '#8c8c8c' };

/** The chart: checks/s per library per C for the all-pass profile, ratios to rate-limiter-flexible labelled. */
export function passChart(rows: readonly SummaryRow[], subtitle: string): string {
  const pass = rows.filter((r) => r.profile === 'pass');
  const cs = [...new Set(pass.map((r) => r.concurrency))].sort((a, b) => a - b);
  const libs: ContenderId[] = ['tollgate', 'rlf', 'naive'];
  return barChartSvg({
    title: 'Checks per second, all checks pass (one Node process, one Redis)',
    subtitle,
    groups: cs.map((c) => `C = ${c} in flight`),
    yLabel: 'checks / s (median of rounds)',
    series: libs
      .filter((lib) => pass.some((r) => r.lib === lib))
      .map((lib) => {
        const per = cs.map((c) => pass.find((r) => r.concurrency === c && r.lib === lib));
        return {
          name: labelOf(lib),
          color: COLORS[lib] ?? '#666',
          values: per.map((r) => r?.median.checksPerSec ?? NaN),
          notes: per.map((r) => (!r ? undefined : lib === 'rlf' ? 'ref' : x(r.ratios.rlf?.checksPerSec))),
        };
      }),
  });
}
