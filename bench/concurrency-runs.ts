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
import { type ConcurrencyRow, concurrencyChartSvg } from './lib/concurrency-chart.js';

const runs = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=');
  if (at < 1) throw new Error(`expected <label>=<concurrency.json>, got ${JSON.stringify(arg)}`);
  const rows = (JSON.parse(readFileSync(arg.slice(at + 1), 'utf8')) as { rows?: ConcurrencyRow[] }).rows;
  if (!Array.isArray(rows)) throw new Error(`${arg.slice(at + 1)} has no "rows": is it a concurrency benchmark result?`);
  return { label: arg.slice(0, at), rows };
});
if (runs.length === 0) throw new Error('usage: npx tsx bench/concurrency-runs.ts <label>=<concurrency.json> ...');

const out = new URL('./results/concurrency-runs.svg', import.meta.url);
writeFileSync(
  out,
  concurrencyChartSvg(
    runs,
    'Acquire+release pairs/s at C=64, every round of every run',
    `K: 1,000 keys, H: one key; ${runs.map((r, i) => `run ${i + 1}: ${r.label}`).join(', ')}; label: tollgate / redis-semaphore in that round`,
  ),
);
console.log(`wrote ${out.pathname}`);
