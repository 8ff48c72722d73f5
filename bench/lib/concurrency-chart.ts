/**
 * The concurrency benchmark's chart: pairs per second of every round of one
 * or more runs, tollgate beside redis-semaphore, each tollgate bar labelled
 * with its ratio in that round. Drawn by bench/concurrency.bench.ts (its own
 * run) and bench/concurrency-runs.ts (several runs side by side).
 */
import { ratio } from './stats.js';
import { barChartSvg } from './svg.js';

/** One measured window of the concurrency benchmark (a row of its JSON result). */
export interface ConcurrencyRow {
  readonly round: number;
  readonly layout: 'keys' | 'hot';
  readonly contender: 'tollgate' | 'redis-semaphore';
  readonly pairsPerSec: number;
}

/** The rows of one run, and what to call it. */
export interface ConcurrencyRun {
  readonly label: string;
  readonly rows: readonly ConcurrencyRow[];
}

/**
 * The chart as an SVG document: a group per layout, run and round (one key
 * after 1,000 keys). With one run the groups are named in full; with several,
 * "K" (1,000 keys) or "H" (one key), then run number and round.
 */
export function concurrencyChartSvg(runs: readonly ConcurrencyRun[], title: string, subtitle: string): string {
  const groups = (['keys', 'hot'] as const).flatMap((layout) =>
    runs.flatMap((run, r) => [...new Set(run.rows.map((row) => row.round))].sort((a, b) => a - b).map((round) => ({ layout, run, r, round }))),
  );
  const pairs = (contender: ConcurrencyRow['contender']) =>
    groups.map(({ layout, run, round }) => run.rows.find((row) => row.layout === layout && row.round === round && row.contender === contender)?.pairsPerSec ?? NaN);
  const mine = pairs('tollgate');
  const theirs = pairs('redis-semaphore');
  const name = ({ layout, r, round }: (typeof groups)[number]): string =>
    runs.length === 1 ? `${layout === 'keys' ? '1,000 keys' : 'one key'}, round ${round}` : `${layout === 'keys' ? 'K' : 'H'} ${r + 1}.${round}`;
  return barChartSvg({
    title,
    subtitle,
    groups: groups.map(name),
    series: [
      { name: 'tollgate (limiter.acquire + lease.release)', color: '#2b6cb0', values: mine, notes: mine.map((v, i) => `${ratio(v, theirs[i] ?? NaN).toFixed(2)}x`) },
      { name: 'redis-semaphore (tryAcquire + release)', color: '#a0aec0', values: theirs },
    ],
    yLabel: 'pairs/s',
  });
}
