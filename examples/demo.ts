/**
 * The tollgate demo (`npm run demo`): an HTTP API protected by tollgate, with
 * a per-client limit and per-tenant plans checked together, driven by a
 * short burst of simulated clients of two tenants, with a live per-second
 * view; then it prints one real response's rate-limit headers and one 429
 * body and keeps serving `/` and `/metrics` until Ctrl-C.
 *
 * On the embedded in-process store by default; with REDIS_URL on Redis, and
 * `--workers 2` starts two server processes that share the limits there.
 * Flags: --no-traffic, --port N, --workers N, --duration S.
 */
import cluster from 'node:cluster';
import { ANONYMOUS, PER_CLIENT, PLANS, TENANTS } from './demo/plans.js';
import { type DemoOptions, USAGE, parseDemoArgs } from './demo/options.js';
import { startServer } from './demo/server.js';
import { type TrafficReport, defaultClients, runTraffic } from './demo/traffic.js';
import { LiveView, formatRow } from './demo/view.js';

const redisUrl = process.env.REDIS_URL || undefined;

function perSecondText(limit: { rate: number; period: number; burst?: number }): string {
  return `${(limit.rate * 1000) / limit.period}/s (burst ${limit.burst ?? limit.rate})`;
}

function banner(storeLabel: string, options: DemoOptions): void {
  console.log('tollgate demo: an HTTP API limited per client and per tenant plan');
  console.log(`  decided by  ${storeLabel}${options.workers > 1 ? `, shared by ${options.workers} server processes` : ''}`);
  console.log(`  plans       ${Object.values(PLANS).map((p) => `${p.name}: ${perSecondText(p.tenant)} per tenant`).join(', ')}`);
  console.log(`  every client (API key) ${perSecondText(PER_CLIENT)}; no API key: ${perSecondText(ANONYMOUS)} per address`);
  console.log(`  tenants     ${TENANTS.map((t) => `${t.id} (${t.plan.name}): ${t.apiKeys.join(', ')}`).join('; ')}`);
}

function printReport(report: TrafficReport, labels: Record<string, string>, durationMs: number): void {
  console.log(`\nTotals over ${durationMs / 1000} s:`);
  for (const [tenant, label] of Object.entries(labels)) {
    const t = report.totals[tenant];
    if (t) console.log(`  total ${formatRow(label, t, Math.max(1, t.sent))}  of ${t.sent} sent`);
  }
  console.log('\nOne allowed response carried:');
  for (const [name, value] of Object.entries(report.sampleHeaders)) console.log(`  ${name}: ${value}`);
  console.log('\nOne 429 answered (application/problem+json):');
  console.log(JSON.stringify(report.sampleDenial, null, 2).replace(/^/gm, '  '));
}

async function traffic(port: number, options: DemoOptions): Promise<void> {
  const clients = defaultClients();
  const labels = Object.fromEntries(TENANTS.map((t) => [t.id, `${t.id} (${t.plan.name})`]));
  const scale = Math.max(...TENANTS.map((t) => clients.filter((c) => c.tenant === t.id).reduce((sum, c) => sum + c.perSecond, 0)));
  console.log(`\nTraffic: ${clients.length} clients for ${options.durationMs / 1000} s (${clients.map((c) => `${c.apiKey} ${c.perSecond}/s`).join(', ')})`);
  const view = new LiveView(process.stdout, labels, scale);
  const report = await runTraffic(`http://127.0.0.1:${port}`, clients, options.durationMs, (r, elapsed) => view.update(r, elapsed), options.workers > 1);
  view.update(report, options.durationMs, true);
  printReport(report, labels, options.durationMs);
}

function serving(port: number, workers: number): void {
  const base = `http://127.0.0.1:${port}`;
  console.log(`\nServing (Ctrl-C to stop):`);
  console.log(`  API      ${base}/        curl -i -H 'x-api-key: initech-1' ${base}/`);
  const perWorker = workers > 1 ? '; a scrape is answered by one worker, with its own counts' : '';
  console.log(`  metrics  ${base}/metrics  (Prometheus text format${perWorker})`);
}

/** True once SIGINT or SIGTERM arrived: the simulated traffic's requests then fail, and that is no error. */
let stopping = false;

/** Runs `stop` once on SIGINT or SIGTERM. */
function onSignal(stop: () => Promise<void>): void {
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => console.log('stopped'),
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function single(options: DemoOptions): Promise<void> {
  const server = await startServer(options.port, 'main', redisUrl, `tollgate-demo:${Date.now().toString(36)}:`);
  onSignal(() => server.close());
  banner(server.storeLabel, options);
  console.log(`  listening   http://127.0.0.1:${server.port}/`);
  if (options.traffic) await traffic(server.port, options);
  serving(server.port, 1);
}

async function primary(options: DemoOptions): Promise<void> {
  if (!redisUrl) throw new Error(`--workers ${options.workers} needs REDIS_URL: the in-process store is not shared between processes\n${USAGE}`);
  const prefix = `tollgate-demo:${Date.now().toString(36)}:`;
  const workers = Array.from({ length: options.workers }, (_, i) =>
    cluster.fork({ TOLLGATE_DEMO_WORKER: `w${i + 1}`, TOLLGATE_DEMO_PORT: String(options.port), TOLLGATE_DEMO_PREFIX: prefix }),
  );
  const ready = await Promise.all(
    workers.map(
      (w) =>
        new Promise<{ port: number; storeLabel: string }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('exit', (code) => reject(new Error(`a demo worker exited with code ${code} before listening`)));
        }),
    ),
  );
  const exited = workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
  onSignal(async () => {
    for (const w of workers) if (!w.isDead()) w.process.kill('SIGTERM');
    await Promise.all(exited);
  });
  const first = ready[0];
  if (!first) throw new Error('no worker started');
  banner(first.storeLabel, options);
  console.log(`  listening   http://127.0.0.1:${first.port}/ (workers ${workers.map((w) => w.process.pid).join(', ')})`);
  if (options.traffic) await traffic(first.port, options);
  serving(first.port, options.workers);
}

async function worker(): Promise<void> {
  const server = await startServer(Number(process.env.TOLLGATE_DEMO_PORT), process.env.TOLLGATE_DEMO_WORKER ?? 'w?', redisUrl, process.env.TOLLGATE_DEMO_PREFIX ?? 'tollgate-demo:');
  // Ctrl-C reaches every process of the terminal's group; the primary also sends SIGTERM.
  onSignal(async () => {
    await server.close();
    process.disconnect?.();
  });
  process.send?.({ port: server.port, storeLabel: server.storeLabel });
}

async function main(): Promise<void> {
  if (!cluster.isPrimary) return worker();
  let options: DemoOptions;
  try {
    options = parseDemoArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 2;
    return;
  }
  return options.workers > 1 ? primary(options) : single(options);
}

await main().catch((error: unknown) => {
  // Stopped during the simulated traffic: its last requests found the server closed.
  if (stopping) return;
  console.error(error instanceof Error ? error.message : error);
  if ((error as { code?: unknown }).code === 'EADDRINUSE') console.error('that port is taken: try --port 0 (any free port) or --port N');
  process.exit(1);
});
