/**
 * Child process for test/atomicity.test.ts: connects to the harness Redis on
 * the given port, prints "ready", waits for "go" on stdin, then fires `count`
 * concurrent `allow` calls on one key over two connections and prints one
 * JSON line { allowed, denied, granted, badRetry } before exiting. The limit
 * is perHour(100), or with `quota` a monthly quota of 1,000 (Europe/Berlin,
 * billing day 15).
 *
 * Usage: node --import tsx test/helpers/atomicity-worker.ts <port> <key> <count> [quota]
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { Limiter, RedisStore, perHour, quota } from '../../src/index.js';

const [portArg, key, countArg, mode] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
if (!Number.isInteger(port) || port <= 0 || !key || !Number.isInteger(count) || count < 1) {
  console.error('usage: atomicity-worker.ts <port> <key> <count>');
  process.exit(2);
}

const limit = mode === 'quota' ? quota(1000, 'month', { timeZone: 'Europe/Berlin', anchorDay: 15 }) : perHour(100);
const clients = [0, 1].map(() => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }));
const limiters = clients.map((client) => new Limiter({ store: new RedisStore({ client, prefix: 'atomic:' }) }));

// Warm up: connect both clients and load the script, without touching the key.
await Promise.all(limiters.map((l, i) => l.peek(`${key}:warmup:${i}`, limit)));
console.log('ready');

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === 'go') break;
}
lines.close();

const results = await Promise.all(Array.from({ length: count }, (_, i) => (limiters[i % 2] as Limiter).allow(key, limit)));
const allowed = results.filter((r) => r.allowed).length;
const granted = results.reduce((sum, r) => sum + r.granted, 0);
// A denial of a 1-unit cost (burst 100, quota 1,000) must carry a finite, positive retry hint.
const badRetry = results.filter((r) => !r.allowed && !(r.retryAfter > 0 && Number.isFinite(r.retryAfter))).length;
console.log(JSON.stringify({ allowed, denied: count - allowed, granted, badRetry }));
for (const c of clients) c.disconnect();
