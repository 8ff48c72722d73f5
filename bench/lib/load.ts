/**
 * Closed-loop load generator: C workers, each awaiting its check before
 * issuing the next, until a fixed duration or a fixed count is reached
 * (whichever comes first). Records per-check latency (in a fixed-size
 * histogram, so the recording itself does not change how the garbage
 * collector treats the library under test), Node CPU time and the garbage
 * collector's pauses during the run.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { LatencyHistogram } from './histogram.js';

/** What to run and for how long. */
export interface LoadOptions {
  /** In-flight checks (workers). */
  readonly concurrency: number;
  /** Stop issuing after this many ms. */
  readonly durationMs: number;
  /** Stop issuing after this many checks. */
  readonly maxChecks: number;
  /** Picks the key of the next check. */
  readonly nextKey: () => string;
  /** Runs one check; resolves true when allowed, false when denied. */
  readonly check: (key: string) => Promise<boolean>;
}

/** What a load run measured. */
export interface LoadResult {
  /** Checks completed (allowed + denied + errors). */
  readonly checks: number;
  /** Checks that were allowed. */
  readonly allowed: number;
  /** Checks that were denied. */
  readonly denied: number;
  /** Checks that threw. */
  readonly errors: number;
  /** The first error thrown, if any. */
  readonly firstError?: unknown;
  /** Wall time from the first issue to the last completion, ms. */
  readonly elapsedMs: number;
  /** checks / elapsed seconds. */
  readonly checksPerSec: number;
  /** Median latency, ms. */
  readonly p50Ms: number;
  /** 99th percentile latency, ms. */
  readonly p99Ms: number;
  /** Node process CPU (user + system) used during the run, µs. */
  readonly nodeCpuUs: number;
  /** Garbage-collector pauses during the run: total ms, and how many were major (mark-sweep-compact). */
  readonly gc: GcPauses;
}

/** Garbage-collector pauses seen during a run. */
export interface GcPauses {
  /** Pauses. */
  readonly count: number;
  /** Sum of their durations, ms. */
  readonly ms: number;
  /** Major (mark-sweep-compact) collections among them. */
  readonly major: number;
}

/** Sums GC entries (as PerformanceObserver reports them) into {@link GcPauses}. */
export function sumGc(entries: readonly { readonly duration: number; readonly detail?: unknown }[]): GcPauses {
  let ms = 0;
  let major = 0;
  for (const e of entries) {
    ms += e.duration;
    const kind = (e.detail as { kind?: number } | undefined)?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major += 1;
  }
  return { count: entries.length, ms, major };
}

/** Runs a closed loop of `concurrency` workers; see {@link LoadOptions}. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { concurrency, durationMs, maxChecks, nextKey, check } = options;
  const latencies = new LatencyHistogram();
  let issued = 0;
  let done = 0;
  let allowed = 0;
  let denied = 0;
  let errors = 0;
  let firstError: unknown;
  const gcEntries: { duration: number; detail?: unknown }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcEntries.push({ duration: e.duration, detail: (e as { detail?: unknown }).detail });
  });
  observer.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + durationMs;

  const worker = async (): Promise<void> => {
    while (issued < maxChecks && performance.now() < end) {
      issued += 1;
      const key = nextKey();
      const t0 = performance.now();
      try {
        if (await check(key)) allowed += 1;
        else denied += 1;
      } catch (error) {
        errors += 1;
        firstError ??= error;
      }
      latencies.record(performance.now() - t0);
      done += 1;
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  for (const e of observer.takeRecords()) gcEntries.push({ duration: e.duration, detail: (e as { detail?: unknown }).detail });
  observer.disconnect();
  const p50Ms = latencies.percentile(50);
  const p99Ms = latencies.percentile(99);
  return {
    checks: done,
    allowed,
    denied,
    errors,
    ...(errors > 0 ? { firstError } : {}),
    elapsedMs,
    checksPerSec: elapsedMs > 0 ? (done * 1000) / elapsedMs : NaN,
    p50Ms,
    p99Ms,
    nodeCpuUs: cpu.user + cpu.system,
    gc: sumGc(gcEntries),
  };
}
