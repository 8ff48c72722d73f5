/**
 * Fixed-size latency histogram for the benchmarks: log-linear buckets
 * (about 1% wide) from 1 µs to 100 s in one 8 KB array.
 *
 * Why not keep every sample: a raw `Float64Array` of millions of latencies
 * (32 MB for a 4M-check window) is a large allocation of the driver's own,
 * which changes when V8 runs full collections during the measured window.
 * A benchmark should not move the collector of the library under test:
 * this keeps the driver's memory constant (8 KB) whatever the window's
 * length. (Session 6 found the full collections mattered because of a
 * retention bug in tollgate's batcher, since fixed: see CHANGELOG.)
 */

/** Smallest value told apart from 0, ms (1 µs). */
const MIN_MS = 0.001;
/** Relative width of a bucket: each bucket's upper bound is (1 + GROWTH) times its lower bound. */
const GROWTH = 0.01;
const LOG_GROWTH = Math.log1p(GROWTH);
/** Buckets needed to cover MIN_MS .. 100 s, plus one below MIN_MS and one overflow bucket. */
const BUCKETS = Math.ceil(Math.log(100_000 / MIN_MS) / LOG_GROWTH) + 2;

/** Records latencies (ms) and answers nearest-rank percentiles within about 0.5% of the exact value. */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;

  /** Samples recorded. */
  get count(): number {
    return this.#count;
  }

  /** Records one latency, ms. Negative and non-finite values count as 0 and as the overflow bucket respectively. */
  record(ms: number): void {
    let i: number;
    if (!(ms >= MIN_MS)) i = ms === Infinity || Number.isNaN(ms) ? BUCKETS - 1 : 0;
    else i = Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.#counts[i] = (this.#counts[i] as number) + 1;
    this.#count += 1;
  }

  /** Forgets every sample. */
  clear(): void {
    this.#counts.fill(0);
    this.#count = 0;
  }

  /**
   * Nearest-rank percentile `p` (0..100), ms: the geometric middle of the
   * bucket holding that rank (0 for the sub-µs bucket, Infinity for the
   * overflow bucket); NaN when nothing was recorded.
   */
  percentile(p: number): number {
    if (this.#count === 0) return NaN;
    const rank = Math.min(this.#count, Math.max(1, Math.ceil((p / 100) * this.#count)));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i += 1) {
      seen += this.#counts[i] as number;
      if (seen >= rank) return bucketMiddle(i);
    }
    return Infinity;
  }
}

function bucketMiddle(i: number): number {
  if (i === 0) return 0;
  if (i === BUCKETS - 1) return Infinity;
  // Bucket i (i >= 1) holds [MIN_MS * g^(i-1), MIN_MS * g^i).
  return MIN_MS * Math.exp((i - 0.5) * LOG_GROWTH);
}
