/**
 * Draws the rounds of several concurrency-benchmark runs in one chart
 * (bench/results/concurrency-runs.svg), so that the spread between runs shows
 * beside the spread between rounds: pairs per second of every round of every
 * run given, with tollgate's ratio to redis-semaphore in that round.
 *
 * Usage: `npx tsx bench/concurrency-runs.ts <label>=<concurrency.json> ...`
 * (each file as `npm run bench -- concurrency` writes it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { barChartSvg } from './lib/svg.js';

interface RunRow {
  readonly round: number;
  readonly layout: 'keys' | 'hot';
  readonly contender: 'tollgate' | 'redis-semaphore';
  readonly pairsPerSec: number;
}

const runs = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=');
  if (at < 1) throw new Error(`expected <label>=<concurrency.json>, got ${JSON.stringify(arg)}`);
  const rows = (JSON.parse(readFileSync(arg.slice(at + 1), 'utf8')) as { rows?: RunRow[] }).rows;
  if (!Array.isArray(rows)) throw new Error(`${arg.slice(at + 1)} has no "rows": is it a concurrency benchmark result?`);
  return { label: arg.slice(0, at), rows };
});
if (runs.length === 0) throw new Error('usage: npx tsx bench/concurrency-runs.ts <label>=<concurrency.json> ...');

const groups = (['keys', 'hot'] as const).flatMap((layout) =>
  runs.flatMap((run) => [...new Set(run.rows.map((r) => r.round))].sort((a, b) => a - b).map((round) => ({ layout, run, round }))),
);
const pairs = (contender: RunRow['contender']) =>
  groups.map(({ layout, run, round }) => run.rows.find((r) => r.layout === layout && r.round === round && r.contender === contender)?.pairsPerSec ?? NaN);
const mine = pairs('tollgate');
const theirs = pairs('redis-semaphore');
const out = new URL('./results/concurrency-runs.svg', import.meta.url);
writeFileSync(
  out,
  barChartSvg({
    title: 'Acquire+release pairs/s at C=64, every round of every run',
    subtitle: `K: 1,000 keys, H: one key; ${runs.map((r, i) => `run ${i + 1}: ${r.label}`).join(', ')}; label: tollgate / redis-semaphore in that round`,
    groups: groups.map(({ layout, run, round }) => `${layout === 'keys' ? 'K' : 'H'} ${runs.indexOf(run) + 1}.${round}`),
    series: [
      { name: 'tollgate (limiter.acquire + lease.release)', color: '#2b6cb0', values: mine, notes: mine.map((v, i) => `${(v / (theirs[i] ?? NaN)).toFixed(2)}x`) },
      { name: 'redis-semaphore (tryAcquire + release)', color: '#a0aec0', values: theirs },
    ],
    yLabel: 'pairs/s',
  }),
);
console.log(`wrote ${out.pathname}`);
