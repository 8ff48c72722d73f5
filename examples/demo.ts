/**
 * The tollgate demo: runs on the embedded in-process store (no Redis needed)
 * and walks through every Limiter call. `npm run demo`.
 * Set REDIS_URL=redis://127.0.0.1:PORT to run the same walk-through on Redis.
 */
import { Limiter, MemoryStore, RedisStore, perDay, perMinute, perSecond, type LimitResult, type Store } from '../src/index.js';

function line(label: string, r: LimitResult): void {
  const verdict = r.allowed ? 'allowed' : 'denied ';
  const retry = r.retryAfter === Infinity ? 'never' : `${r.retryAfter} ms`;
  console.log(`  ${label.padEnd(34)} ${verdict}  granted=${r.granted}  remaining=${r.remaining}  retryAfter=${retry}  resetAfter=${r.resetAfter} ms`);
}

async function makeStore(): Promise<{ store: Store; close: () => Promise<void>; kind: string }> {
  const url = process.env.REDIS_URL;
  if (!url) return { store: new MemoryStore(), close: async () => undefined, kind: 'in-process MemoryStore' };
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  return { store: new RedisStore({ client, prefix: 'tollgate-demo:' }), close: async () => void client.disconnect(), kind: `RedisStore at ${url}` };
}

const { store, close, kind } = await makeStore();
const limiter = new Limiter({ store });
console.log(`tollgate demo on the ${kind}\n`);

const api = perSecond(5);
console.log('1. allow(): 5 requests per second with a burst of 5, 7 requests at once');
for (let i = 1; i <= 7; i += 1) line(`request ${i}`, await limiter.allow('demo:user:alice', api));

console.log('\n2. cost: an export costs 3 units of a 10/minute budget');
const exports = perMinute(10);
for (let i = 1; i <= 4; i += 1) line(`export ${i} (cost 3)`, await limiter.allow('demo:exports:alice', exports, { cost: 3 }));
line('cost 11 > burst 10', await limiter.allow('demo:exports:alice', exports, { cost: 11 }));

console.log('\n3. allowAtMost(): a worker takes up to 4 jobs from a 6/minute budget');
const jobs = perMinute(6);
for (let i = 1; i <= 3; i += 1) line(`take up to 4 (round ${i})`, await limiter.allowAtMost('demo:jobs', jobs, 4));

console.log('\n4. allowAll(): per-user 3/s AND per-tenant 1,000,000/day, all-or-nothing');
const user = { ...perSecond(3), name: 'user' };
const tenant = { ...perDay(1_000_000), name: 'tenant' };
for (let i = 1; i <= 4; i += 1) {
  const r = await limiter.allowAll([
    { key: 'demo:user:bob', limit: user },
    { key: 'demo:tenant:acme', limit: tenant },
  ]);
  line(`bob request ${i}`, r);
}
line('tenant quota untouched by denial', await limiter.peek('demo:tenant:acme', tenant));

console.log('\n5. peek() and reset()');
line('peek alice (takes nothing)', await limiter.peek('demo:user:alice', api));
await limiter.reset('demo:user:alice');
line('after reset', await limiter.peek('demo:user:alice', api));

console.log('\n6. wait(): resolves when the request may proceed');
const started = performance.now();
for (let i = 0; i < 5; i += 1) await limiter.allow('demo:wait', api);
const waited = await limiter.wait('demo:wait', api, { maxWait: 1000 });
line(`waited ${Math.round(performance.now() - started)} ms`, waited);
try {
  await limiter.wait('demo:wait', api, { cost: 5, maxWait: 50 });
} catch (error) {
  console.log(`  wait with maxWait 50 ms rejected: ${(error as Error & { code: string }).code}`);
}

await store.close();
await close();
