/**
 * Child process for test/concurrency.test.ts. Connects to the harness Redis
 * on the given port, prints "ready", waits for "go" on stdin, then:
 *
 * - `loops <key> <loops> <rounds>`: runs `loops` concurrent loops, each
 *   taking and releasing a lease of `key` (at most 10 at once) `rounds`
 *   times; while holding one it increments, then decrements, the Redis
 *   counter `<key>:held` and remembers the largest value it saw. Prints one
 *   JSON line { acquired, released, denied, maxHeld, errors } and exits.
 * - `hold <key> <n> <ttlMs>`: takes `n` leases of `key` (at most n at once,
 *   ttl ttlMs), prints a JSON line { expiresAt } and waits to be killed.
 *
 * Usage: node --import tsx test/helpers/concurrency-worker.ts <port> <mode> ...
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Limiter, RedisStore, concurrency } from '../../src/index.js';

const [portArg, mode, keyArg, a, b] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || !keyArg || (mode !== 'loops' && mode !== 'hold')) {
  console.error('usage: concurrency-worker.ts <port> loops <key> <loops> <rounds> | hold <key> <n> <ttlMs>');
  process.exit(2);
}
const key: string = keyArg;

const clients = [0, 1].map(() => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }));
const limiters = clients.map((client) => new Limiter({ store: new RedisStore({ client, prefix: 'conc:' }) }));
await Promise.all(clients.map((c) => c.ping()));
console.log('ready');

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === 'go') break;
}
lines.close();

if (mode === 'hold') {
  const n = Number(a);
  const limit = concurrency(n, { ttl: Number(b) });
  const leases = await Promise.all(Array.from({ length: n }, () => (limiters[0] as Limiter).acquire(key, limit)));
  if (!leases.every((l) => l.allowed)) throw new Error('hold: a lease was denied');
  console.log(JSON.stringify({ expiresAt: Math.max(...leases.map((l) => l.expiresAt)) }));
  await new Promise(() => undefined); // held until killed
}

const limit = concurrency(10, { ttl: 30_000 });
const counter = clients[1] as Redis;
const report = { acquired: 0, released: 0, denied: 0, maxHeld: 0, errors: 0 };
const deadline = performance.now() + 20_000;
async function loop(i: number, rounds: number): Promise<void> {
  const limiter = limiters[i % 2] as Limiter;
  for (let done = 0; done < rounds && performance.now() < deadline; ) {
    try {
      const lease = await limiter.acquire(key, limit);
      if (!lease.allowed) {
        report.denied += 1;
        await sleep(20 + Math.random() * 40);
        continue;
      }
      report.acquired += 1;
      const held = await counter.incr(`${key}:held`);
      if (held > report.maxHeld) report.maxHeld = held;
      await sleep(1);
      await counter.decr(`${key}:held`);
      if (await lease.release()) report.released += 1;
      done += 1;
    } catch {
      report.errors += 1;
      await sleep(10);
    }
  }
}
await Promise.all(Array.from({ length: Number(a) }, (_, i) => loop(i, Number(b))));
console.log(JSON.stringify(report));
for (const c of clients) c.disconnect();
