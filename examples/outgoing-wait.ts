/**
 * Example: throttling outgoing calls with wait(). A local stand-in for a
 * third-party API answers 429 above 5 calls per second; the client sends 20
 * calls as fast as it can, each first waiting for tollgate's go-ahead, and
 * gets no 429. Exits when done.
 *
 *   npx tsx examples/outgoing-wait.ts
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Limiter, perSecond } from 'tollgate';

// The upstream: at most 5 calls in any second (a sliding log, as strict APIs do).
const seen: number[] = [];
const upstream = createServer((_req, res) => {
  const now = Date.now();
  while (seen.length > 0 && (seen[0] ?? 0) <= now - 1000) seen.shift();
  if (seen.length >= 5) {
    res.writeHead(429).end();
    return;
  }
  seen.push(now);
  res.writeHead(200).end('ok');
});
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`;

// The client: in any second a GCRA budget lets through its burst plus one unit per emission
// interval, so against a strict "5 in any second" upstream, 4 per second with bursts of 1
// (at most 1 + 4 = 5 in a second) never goes over, while perSecond(4) (bursts of 4) would.
const limiter = new Limiter();
const budget = perSecond(4, 1);
const started = performance.now();
const statuses = await Promise.all(
  Array.from({ length: 20 }, async () => {
    await limiter.wait('upstream', budget, { maxWait: 10_000 });
    return (await fetch(url)).status;
  }),
);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`${statuses.length} calls in ${seconds} s: ${statuses.filter((s) => s === 200).length} answered 200, ${statuses.filter((s) => s === 429).length} answered 429`);

await limiter.store.close();
upstream.close();
