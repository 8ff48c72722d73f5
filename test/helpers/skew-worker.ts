/**
 * Child process for test/quota-skew.test.ts: an app server whose clock is
 * `skewMs` off. Connects to the harness Redis on `port` (RedisStore on the
 * server's clock), prints "ready", then for every line "go <origin> <key>"
 * on stdin takes one unit of a quota item on `key` whose windows are
 * `windowUs` long and start at `origin` (µs), and prints one JSON line: the
 * window this process's clock puts the check in, and the store's answer.
 *
 * Usage: node --import tsx test/helpers/skew-worker.ts <port> <skewMs> <windowUs>
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { LimiterError, RedisStore } from '../../src/index.js';
import type { QuotaOutcome, QuotaWindows } from '../../src/store.js';

const [portArg, skewArg, windowArg] = process.argv.slice(2);
const port = Number(portArg);
const skew = Number(skewArg);
const W = Number(windowArg);
if (!Number.isInteger(port) || !Number.isInteger(skew) || !Number.isInteger(W) || W < 1) {
  console.error('usage: skew-worker.ts <port> <skewMs> <windowUs>');
  process.exit(2);
}

// This process's clock is `skew` ms off: what the store uses to frame the windows it sends.
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + skew;

/** Windows of W µs from `origin`: the three around an instant. */
function partition(origin: number): QuotaWindows {
  return (t) => {
    const start = origin + Math.floor((t - origin) / W) * W;
    return { previous: start - W, start, end: start + W, next: start + 2 * W };
  };
}

const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
const store = new RedisStore({ client, prefix: 'skew:', denyCache: false });
await client.ping();
console.log('ready');

for await (const line of createInterface({ input: process.stdin })) {
  const [word, originArg, key] = line.trim().split(' ');
  if (word !== 'go' || originArg === undefined || key === undefined) continue;
  const windows = partition(Number(originArg));
  const clientWindow = windows(Date.now() * 1000).start;
  try {
    const outcome = await store.evaluate({ mode: 'all', items: [{ kind: 'quota', key, amount: 10, windows, cost: 1 }] });
    const item = outcome.items[0] as QuotaOutcome;
    console.log(JSON.stringify({ clientWindow, serverNow: outcome.now, window: item.window, used: item.used }));
  } catch (error) {
    console.log(JSON.stringify({ clientWindow, error: error instanceof LimiterError ? `${error.code}: ${error.message}` : String(error) }));
  }
}
client.disconnect();
