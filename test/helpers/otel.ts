/**
 * Test harness for telemetry: a real OpenTelemetry SDK (metrics with an
 * in-memory exporter, traces with an in-memory span exporter), helpers to
 * read exact counter values and histogram counts by attribute set, and a
 * scan that collects every attribute value and name the SDK recorded, and
 * the per-file setup of the global context manager and providers.
 */
import { after, afterEach, before } from 'node:test';
import { type Attributes, type AttributeValue, context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * Registers the hooks a telemetry test file needs around the global OpenTelemetry API: an
 * AsyncLocalStorage context manager for the whole file (so spans nest across awaits), and,
 * after each test, no global meter or tracer provider left behind. Call it at module level.
 */
export function useOtelGlobals(): void {
  const contextManager = new AsyncLocalStorageContextManager();
  before(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  after(() => {
    context.disable();
  });
  afterEach(() => {
    metrics.disable();
    trace.disable();
  });
}

/** A private SDK pipeline for one test. */
export interface OtelHarness {
  /** Metrics go here. */
  readonly meterProvider: MeterProvider;
  /** Spans go here (every span sampled, exported at once). */
  readonly tracerProvider: BasicTracerProvider;
  /** Collects now and returns every metric of the `tollgate` scope, by name. */
  collect(): Promise<Map<string, MetricData>>;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
  /** Shuts both providers down. */
  shutdown(): Promise<void>;
}

/** Starts a private SDK pipeline. */
export function otel(): OtelHarness {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  return {
    meterProvider,
    tracerProvider,
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      const byName = new Map<string, MetricData>();
      for (const rm of exporter.getMetrics()) {
        for (const sm of rm.scopeMetrics) {
          if (sm.scope.name !== 'tollgate') continue;
          for (const metric of sm.metrics) byName.set(metric.descriptor.name, metric);
        }
      }
      return byName;
    },
    spans: () => spanExporter.getFinishedSpans(),
    async shutdown() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

function sameAttributes(a: Attributes, b: Attributes): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/** Every data point of a sum metric as [attributes, value]. */
export function sumPoints(metric: MetricData | undefined): [Attributes, number][] {
  if (metric === undefined) return [];
  if (metric.dataPointType !== DataPointType.SUM) throw new Error(`${metric.descriptor.name} is not a sum`);
  return metric.dataPoints.map((p) => [p.attributes, p.value]);
}

/** The value of the sum data point with exactly these attributes (0 when absent). */
export function sumValue(metric: MetricData | undefined, attributes: Attributes): number {
  return sumPoints(metric).find(([a]) => sameAttributes(a, attributes))?.[1] ?? 0;
}

/** Histogram data points as [attributes, count, sum, bucket boundaries]. */
export function histogramPoints(metric: MetricData | undefined): { attributes: Attributes; count: number; sum: number; boundaries: number[] }[] {
  if (metric === undefined) return [];
  if (metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${metric.descriptor.name} is not a histogram`);
  return metric.dataPoints.map((p) => ({ attributes: p.attributes, count: p.value.count, sum: p.value.sum ?? 0, boundaries: p.value.buckets.boundaries }));
}

/** The count of the histogram data point with exactly these attributes (0 when absent). */
export function histogramCount(metric: MetricData | undefined, attributes: Attributes): number {
  return histogramPoints(metric).find((p) => sameAttributes(p.attributes, attributes))?.count ?? 0;
}

function pushValue(out: string[], value: AttributeValue | undefined): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) for (const v of value) out.push(String(v));
  else out.push(String(value));
}

/**
 * Every string the SDK recorded that could carry a user's data: metric
 * attribute values, span names, span/event/link attribute values, status messages.
 */
export function recordedStrings(metrics: Iterable<MetricData>, spans: readonly ReadableSpan[]): string[] {
  const out: string[] = [];
  for (const metric of metrics) for (const point of metric.dataPoints) for (const v of Object.values(point.attributes)) pushValue(out, v);
  for (const span of spans) {
    out.push(span.name);
    if (span.status.message !== undefined) out.push(span.status.message);
    for (const v of Object.values(span.attributes)) pushValue(out, v);
    for (const event of span.events) for (const v of Object.values(event.attributes ?? {})) pushValue(out, v);
    for (const link of span.links) for (const v of Object.values(link.attributes ?? {})) pushValue(out, v);
  }
  return out;
}
