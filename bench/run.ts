/**
 * `npm run bench`: runs every benchmark suite in its own process, one after
 * another (so they do not compete for the two cores), and prints where each
 * wrote its table, JSON and chart. `--quick` asks each suite for a short run.
 *
 * A suite is a file `bench/<name>.bench.ts`; it starts its own Redis on a
 * free loopback port, stops it afterwards, and writes bench/results/<name>.{json,md,svg}.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
const flags = args.filter((a) => a.startsWith('--'));
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

let failed = 0;
for (const name of suites) {
  console.log(`\n=== bench: ${name} ${flags.join(' ')}`);
  // --expose-gc: a suite may collect garbage between measurements, so no contender pays for another's.
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `${here}${name}.bench.ts`, ...flags], { stdio: 'inherit' });
  if (run.status !== 0) {
    failed += 1;
    console.error(`bench ${name} failed with exit code ${run.status}`);
  }
}
console.log(`\n${suites.length - failed} suites ran, ${failed} failed; results in bench/results/`);
process.exitCode = failed === 0 ? 0 : 1;
