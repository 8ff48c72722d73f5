/**
 * An open-loop load generator at a fixed request rate, run in its own process
 * by bench/http-cpu.bench.ts:
 * `paced-load.ts <url> <rate> <warmSeconds> <seconds> <connections> <keys>`.
 *
 * Request i is due at i / rate seconds and is sent then on an idle keep-alive
 * connection (one request in flight per connection), so requests arrive evenly
 * spread, not in bursts. (autocannon's `overallRate` gives each connection a
 * budget per second that it spends back to back at the start of the second:
 * the server sees a saturating burst, then silence.) Requests cycle through
 * `keys` values of `x-api-key`. A request due while every connection is busy
 * waits for the next free one, and its latency counts from when it was due.
 *
 * It prints `MARK` when the measured window starts (after the warm-up) and
 * `MARK` again when it ends, so that the parent reads the server's and Redis's
 * CPU counters at those moments; then one JSON line ({@link PacedResult}) on
 * what happened inside the window.
 */
import { type Socket, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ResponseReader, dueAt, dueCount } from './http-responses.js';
import { LatencyHistogram } from './histogram.js';

/** What one paced run measured, inside the measured window. */
export interface PacedResult {
  /** Requests per second asked for. */
  readonly offeredRate: number;
  /** Responses per second received in the window. */
  readonly achievedRate: number;
  /** Responses received in the window. */
  readonly responses: number;
  /** Length of the window, ms. */
  readonly windowMs: number;
  /** Latency from when a request was due to its response, ms. */
  readonly p50: number;
  readonly p99: number;
  /** Most requests that were due but waiting for a free connection at once (0 or near: the schedule held). */
  readonly maxBacklog: number;
  /** Responses with a status outside 2xx. */
  readonly non2xx: number;
  /** Connection errors. */
  readonly errors: number;
  /** CPU time of this process per response, µs. */
  readonly loadCpuUs: number;
}

const [urlArg, rateArg, warmArg, secondsArg, connArg, keysArg] = process.argv.slice(2);
const url = new URL(String(urlArg));
const rate = Number(rateArg);
const warmMs = Number(warmArg) * 1000;
const windowEndMs = warmMs + Number(secondsArg) * 1000;
const connections = Number(connArg);
const keys = Number(keysArg);
if (!(rate > 0 && connections > 0 && keys > 0 && windowEndMs > warmMs)) throw new Error(`bad arguments: ${process.argv.slice(2).join(' ')}`);

const requests = Array.from({ length: keys }, (_, i) =>
  Buffer.from(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nx-api-key: key-${i}\r\n\r\n`, 'latin1'),
);

interface Conn {
  readonly socket: Socket;
  readonly reader: ResponseReader;
  /** When the request in flight was due (ms since start), or NaN when idle. */
  due: number;
}

const latencies = new LatencyHistogram();
let start = 0;
let sent = 0;
let measuring = false;
let stopped = false;
let windowStart = 0;
let windowEnd = 0;
let responses = 0;
let non2xx = 0;
let errors = 0;
let maxBacklog = 0;
let cpuAtStart = process.cpuUsage();
let cpuInWindow = 0;
const idle: Conn[] = [];
const all: Conn[] = [];

function send(conn: Conn): void {
  conn.due = dueAt(sent, rate);
  conn.socket.write(requests[sent % keys] as Buffer);
  sent += 1;
}

/** Sends every request due by now that a free connection can take. */
function pump(): void {
  if (stopped) return;
  const due = dueCount(performance.now() - start, rate);
  while (sent < due && idle.length > 0) send(idle.pop() as Conn);
  if (due - sent > maxBacklog && measuring) maxBacklog = due - sent;
}

function onResponses(conn: Conn, statuses: number[]): void {
  for (const status of statuses) {
    if (measuring) {
      responses += 1;
      if (status < 200 || status > 299) non2xx += 1;
      latencies.record(performance.now() - start - conn.due);
    }
    conn.due = NaN;
    idle.push(conn);
  }
  pump();
}

function open(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    const conn: Conn = { socket, reader: new ResponseReader(), due: NaN };
    socket.once('connect', () => resolve(conn));
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => onResponses(conn, conn.reader.feed(chunk)));
  });
}

for (let i = 0; i < connections; i += 1) {
  const conn = await open();
  conn.socket.on('error', () => (errors += 1));
  conn.socket.on('close', () => {
    const at = idle.indexOf(conn);
    if (at >= 0) idle.splice(at, 1);
  });
  all.push(conn);
  idle.push(conn);
}

start = performance.now();
const ticker = setInterval(() => {
  const now = performance.now() - start;
  if (!measuring && !stopped && now >= warmMs) {
    measuring = true;
    windowStart = now;
    cpuAtStart = process.cpuUsage();
    process.stdout.write('MARK\n');
  } else if (measuring && now >= windowEndMs) {
    measuring = false;
    stopped = true;
    windowEnd = now;
    const { user, system } = process.cpuUsage(cpuAtStart);
    cpuInWindow = user + system;
    process.stdout.write('MARK\n');
    clearInterval(ticker);
    // Lets the requests in flight finish, then reports.
    setTimeout(finish, 500);
  }
  pump();
}, 1);

function finish(): void {
  for (const conn of all) conn.socket.destroy();
  const windowMs = windowEnd - windowStart;
  const out: PacedResult = {
    offeredRate: rate,
    achievedRate: (responses * 1000) / windowMs,
    responses,
    windowMs,
    p50: latencies.percentile(50),
    p99: latencies.percentile(99),
    maxBacklog,
    non2xx,
    errors,
    loadCpuUs: responses > 0 ? cpuInWindow / responses : NaN,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
