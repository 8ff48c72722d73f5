/**
 * Telemetry overhead benchmark (issue 5): checks/s of Limiter.allow with
 * telemetry turned off (the baseline), with telemetry on but no SDK
 * registered, and with an SDK registered globally (a meter provider whose
 * reader exports to a no-op exporter, and a tracer provider with a
 * parent-based 10% ratio sampler and a batch processor to a no-op
 * exporter), each as a ratio to the baseline of the same round. Measured on
 * the MemoryStore and on a RedisStore over a throwaway redis-server on a
 * free loopback port. Each of 3 rounds runs every variant in short slices,
 * interleaved in rotating order (so load from other processes falls on all
 * variants alike); a round's figure for a variant is its checks over its
 * time; reported figures are medians of the rounds, and ratios are taken
 * within a round. A fourth, informative variant makes a root span for every
 * check (`requireParentSpan: false`).
 *
 * No context manager is registered: with the default `requireParentSpan`,
 * checks outside a traced request make no span, which is what this
 * measures; the root-span variant shows the cost of spans themselves.
 *
 * Flags: --quick (under a minute), --rounds=N. Writes bench/results/otel.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, type PushMetricExporter, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { Limiter, type LimiterOptions, MemoryStore, RedisStore, type Store } from '../src/index.js';
import type { Limit } from '../src/limits.js';
import { type BenchRedis, startBenchRedis } from './lib/redis.js';
import { median } from './lib/stats.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 3);
const slices = quick ? 4 : 10;
const sliceMs = quick ? 100 : 200;
const warmMs = quick ? 500 : 1500;
const KEYS = 10_000;

type VariantId = 'baseline' | 'no_sdk' | 'sdk' | 'sdk_root_spans';
const VARIANTS: readonly VariantId[] = ['baseline', 'no_sdk', 'sdk', 'sdk_root_spans'];
const LABEL: Record<VariantId, string> = {
  baseline: 'telemetry off (baseline)',
  no_sdk: 'telemetry on, no SDK registered',
  sdk: 'SDK registered (metrics + tracer, default config)',
  sdk_root_spans: 'SDK registered, a root span per check (informative)',
};
const TARGET: Partial<Record<VariantId, number>> = { no_sdk: 0.98, sdk: 0.9 };

/** The OpenTelemetry SDK pipeline of the `sdk` variants: everything real except the network. */
function startSdk(): { meterProvider: MeterProvider; tracerProvider: BasicTracerProvider; exported: () => { spans: number; metrics: number } } {
  let spans = 0;
  let metricBatches = 0;
  const metricExporter: PushMetricExporter = {
    export: (_metrics, done) => {
      metricBatches += 1;
      done({ code: 0 });
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  const spanExporter: SpanExporter = {
    export: (batch, done) => {
      spans += batch.length;
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1000 })],
  });
  const tracerProvider = new BasicTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }),
    spanProcessors: [new BatchSpanProcessor(spanExporter, { maxQueueSize: 65_536, maxExportBatchSize: 4096, scheduledDelayMillis: 500 })],
  });
  return { meterProvider, tracerProvider, exported: () => ({ spans, metrics: metricBatches }) };
}

/** What one closed-loop slice did. */
interface Slice {
  /** Checks completed. */
  checks: number;
  /** Wall time, ms. */
  ms: number;
  /** Node CPU, µs. */
  cpuUs: number;
  /** Checks that threw. */
  errors: number;
}

/** Closed loop: `concurrency` workers each awaiting its check, for `ms`. */
async function closedLoop(limiter: Limiter, limit: Limit, concurrency: number, ms: number, keys: readonly string[]): Promise<Slice> {
  let done = 0;
  let errors = 0;
  let next = Math.floor(Math.random() * keys.length);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      next = (next + 7919) % keys.length;
      try {
        await limiter.allow(keys[next] as string, limit);
      } catch {
        errors += 1;
      }
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { checks: done, ms: elapsed, cpuUs: cpu.user + cpu.system, errors };
}

interface Row {
  store: string;
  concurrency: number;
  variant: VariantId;
  rates: number[];
  ratios: number[];
  cpuUsPerCheck: number[];
  cpuRatios: number[];
}

async function main(): Promise<void> {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
  const limit: Limit = { rate: 1_000_000_000, period: 1000, name: 'api' }; // every check passes
  const sdk = startSdk();
  let redis: BenchRedis | undefined;
  const rows: Row[] = [];
  const started = Date.now();
  try {
    redis = await startBenchRedis();
    const server = redis;
    const setups: { store: string; concurrency: number; make: () => Store }[] = [
      { store: 'memory', concurrency: 1, make: () => new MemoryStore() },
      { store: 'redis', concurrency: 64, make: () => new RedisStore({ client: server.client() }) },
    ];
    for (const setup of setups) {
      const limiters = new Map<VariantId, Limiter>();
      for (const variant of VARIANTS) {
        const options: LimiterOptions = { store: setup.make() };
        limiters.set(variant, new Limiter(variant === 'baseline' ? { ...options, telemetry: false } : variant === 'sdk_root_spans' ? { ...options, requireParentSpan: false } : options));
      }
      const byVariant = new Map<VariantId, Row>();
      for (const variant of VARIANTS) {
        const row: Row = { store: setup.store, concurrency: setup.concurrency, variant, rates: [], ratios: [], cpuUsPerCheck: [], cpuRatios: [] };
        byVariant.set(variant, row);
        rows.push(row);
      }
      const run = async (variant: VariantId, ms: number): Promise<Slice> => {
        if (variant === 'sdk' || variant === 'sdk_root_spans') {
          metrics.setGlobalMeterProvider(sdk.meterProvider);
          trace.setGlobalTracerProvider(sdk.tracerProvider);
        } else {
          metrics.disable();
          trace.disable();
        }
        const result = await closedLoop(limiters.get(variant) as Limiter, limit, setup.concurrency, ms, keys);
        metrics.disable();
        trace.disable();
        if (result.errors > 0) throw new Error(`${setup.store}/${variant}: ${result.errors} checks failed`);
        return result;
      };
      for (const variant of VARIANTS) await run(variant, warmMs);
      for (let r = 0; r < rounds; r += 1) {
        const totals = new Map<VariantId, Slice>(VARIANTS.map((v) => [v, { checks: 0, ms: 0, cpuUs: 0, errors: 0 }]));
        for (let i = 0; i < slices; i += 1) {
          const shift = r * slices + i;
          for (let j = 0; j < VARIANTS.length; j += 1) {
            const variant = VARIANTS[(j + shift) % VARIANTS.length] as VariantId;
            const slice = await run(variant, sliceMs);
            const total = totals.get(variant) as Slice;
            total.checks += slice.checks;
            total.ms += slice.ms;
            total.cpuUs += slice.cpuUs;
          }
        }
        const measured = new Map<VariantId, number>();
        for (const variant of VARIANTS) {
          const total = totals.get(variant) as Slice;
          const rate = (total.checks * 1000) / total.ms;
          measured.set(variant, rate);
          const row = byVariant.get(variant) as Row;
          row.rates.push(rate);
          row.cpuUsPerCheck.push(total.cpuUs / Math.max(1, total.checks));
        }
        const base = measured.get('baseline') as number;
        const baseCpu = (byVariant.get('baseline') as Row).cpuUsPerCheck.at(-1) as number;
        for (const variant of VARIANTS) {
          const row = byVariant.get(variant) as Row;
          row.ratios.push((measured.get(variant) as number) / base);
          row.cpuRatios.push(baseCpu / (row.cpuUsPerCheck.at(-1) as number));
        }
        console.log(
          `${setup.store} C=${setup.concurrency} round ${r + 1}: ` +
            VARIANTS.map((v) => `${v} ${Math.round(measured.get(v) as number)}/s (${((measured.get(v) as number) / base).toFixed(3)})`).join(', '),
        );
      }
    }
  } finally {
    metrics.disable();
    trace.disable();
    await sdk.meterProvider.shutdown();
    await sdk.tracerProvider.shutdown();
    await redis?.stop();
  }
  report(rows, sdk.exported(), Date.now() - started);
}

function report(rows: readonly Row[], exported: { spans: number; metrics: number }, elapsedMs: number): void {
  const summary = rows.map((row) => {
    const ratio = median(row.ratios);
    const target = TARGET[row.variant];
    return {
      store: row.store,
      concurrency: row.concurrency,
      variant: row.variant,
      label: LABEL[row.variant],
      checksPerSec: Math.round(median(row.rates)),
      ratio: Number(ratio.toFixed(4)),
      nodeCpuUsPerCheck: Number(median(row.cpuUsPerCheck).toFixed(3)),
      cpuRatio: Number(median(row.cpuRatios).toFixed(4)),
      target: target ?? null,
      pass: target === undefined ? null : ratio >= target,
      rounds: row.rates.map((rate, i) => ({ checksPerSec: Math.round(rate), ratio: Number((row.ratios[i] ?? NaN).toFixed(4)) })),
    };
  });
  const meta = {
    date: new Date().toISOString(),
    quick,
    rounds,
    slices,
    sliceMs,
    node: process.version,
    cpus: cpus().length,
    loadavg: loadavg().map((l) => Number(l.toFixed(2))),
    elapsedMs,
    exportedSpans: exported.spans,
    metricExports: exported.metrics,
  };
  writeFileSync(new URL('./results/otel.json', import.meta.url), `${JSON.stringify({ meta, results: summary }, null, 2)}\n`);
  const lines = [
    '# Telemetry overhead',
    '',
    `Limiter.allow, every check allowed, keys uniform over ${KEYS.toLocaleString('en-US')} ids, closed loop. ` +
      `${rounds} rounds; in each, every variant runs ${slices} slices of ${sliceMs} ms, interleaved in rotating order. ` +
      'Figures are medians of the rounds; ratio = checks/s over the baseline of the same round.',
    `SDK: MeterProvider + PeriodicExportingMetricReader (1 s) to a no-op exporter; BasicTracerProvider with ParentBased(TraceIdRatioBased(0.1)) and a BatchSpanProcessor to a no-op exporter; no context manager.`,
    `Node ${meta.node}, ${meta.cpus} CPUs, load average ${meta.loadavg.join(' ')}${quick ? ', quick mode' : ''}.`,
    '',
    'CPU ratio = baseline Node CPU per check over this variant\'s (less sensitive to other processes on the machine than checks/s).',
    '',
    '| store | C | variant | checks/s | ratio | Node CPU µs/check | CPU ratio | target (ratio) |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |',
    ...summary.map(
      (s) =>
        `| ${s.store} | ${s.concurrency} | ${s.label} | ${s.checksPerSec.toLocaleString('en-US')} | ${s.ratio.toFixed(3)} | ${s.nodeCpuUsPerCheck.toFixed(2)} | ${s.cpuRatio.toFixed(3)} | ${
          s.target === null ? '' : `>= ${s.target} ${s.pass ? 'pass' : 'MISS'}`
        } |`,
    ),
    '',
  ];
  writeFileSync(new URL('./results/otel.md', import.meta.url), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
}

await main();
