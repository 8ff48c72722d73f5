/**
 * The load generator of the HTTP benchmark, run in its own process so it
 * never shares an event loop with the server under test:
 * `http-load.ts <url> <seconds> <connections> <keys>`. It drives autocannon
 * with `keys` prebuilt requests, each carrying its own `x-api-key`, split
 * among the connections (each cycles through its share), and prints one JSON line: req/s, latency
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
  /** Connection errors (timeouts included). */
  readonly errors: number;
  /** Requests that timed out. */
  readonly timeouts: number;
  /** Requests completed. */
  readonly total: number;
  /** CPU time of the load generator per request, µs. */
  readonly loadCpuUs: number;
}

const [url, seconds, connections, keyCount] = process.argv.slice(2);
const keys = Number(keyCount ?? 10_000);
const conns = Number(connections);
const request = (i: number) => ({ method: 'GET' as const, path: '/', headers: { 'x-api-key': `key-${i}` } });
let client = 0;

const cpuStart = process.cpuUsage();
const result = await autocannon({
  url: String(url),
  duration: Number(seconds),
  connections: conns,
  pipelining: 1,
  // autocannon prebuilds every request of the list for every connection; so each connection
  // gets its own slice of the keys (together they cover all of them), built once.
  requests: [request(0)],
  setupClient: (c: { setRequests(r: ReturnType<typeof request>[]): void }) => {
    const from = Math.floor((client * keys) / conns);
    const to = Math.floor(((client + 1) * keys) / conns);
    client += 1;
    c.setRequests(Array.from({ length: Math.max(1, to - from) }, (_, i) => request((from + i) % keys)));
  },
});
const out: LoadResult = {
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  total: result.requests.total,
  loadCpuUs: (() => {
    const { user, system } = process.cpuUsage(cpuStart);
    return result.requests.total > 0 ? (user + system) / result.requests.total : NaN;
  })(),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
