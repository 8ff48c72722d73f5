/**
 * The load generator of the HTTP benchmark, run in its own process so it
 * never shares an event loop with the server under test:
 * `http-load.ts <url> <seconds> <connections> <keys>`. It drives autocannon
 * with `keys` prebuilt requests, each carrying its own `x-api-key`, cycled
 * by every connection, and prints one JSON line: req/s, latency
 * percentiles (ms), and counts of non-2xx responses and errors.
 */
import autocannon from 'autocannon';

/** What one load run measured. */
export interface LoadResult {
  /** Mean requests per second over the run. */
  readonly rps: number;
  /** Latency percentiles, ms. */
  readonly p50: number;
  readonly p99: number;
  /** Responses with a status outside 2xx (should be 0: the limits are never reached). */
  readonly non2xx: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  /** Requests completed. */
  readonly total: number;
}

const [url, seconds, connections, keyCount] = process.argv.slice(2);
const keys = Number(keyCount ?? 10_000);
const requests = Array.from({ length: keys }, (_, i) => ({ method: 'GET' as const, path: '/', headers: { 'x-api-key': `key-${i}` } }));
const conns = Number(connections);
let client = 0;

const result = await autocannon({
  url: String(url),
  duration: Number(seconds),
  connections: Number(connections),
  pipelining: 1,
  requests,
  // Each connection walks the keys from its own starting point, so concurrent requests carry different keys.
  setupClient: (c: { setRequests(r: typeof requests): void }) => {
    const start = Math.floor((client * keys) / conns) % keys;
    client += 1;
    c.setRequests([...requests.slice(start), ...requests.slice(0, start)]);
  },
});
const out: LoadResult = {
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  total: result.requests.total,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
