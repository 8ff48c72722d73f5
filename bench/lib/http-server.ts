/**
 * One HTTP server for the HTTP benchmark, run in its own process:
 * `http-server.ts <express|fastify> <none|passthrough|tollgate|tollgate-memory|peer> <redisPort> [poolSize]`.
 * It listens on a free loopback port, prints `PORT <n>` once ready, prints
 * `CPU <µs>` (its CPU time so far) on SIGUSR2, and exits on SIGTERM. Every limited variant keys by the `x-api-key` header and
 * uses a limit no client reaches (all requests pass), so the figures show the
 * limiter's overhead: tollgate with a RedisStore (or, to isolate the
 * middleware from the store, a MemoryStore), or the framework's usual
 * peer (express-rate-limit + rate-limit-redis, @fastify/rate-limit + ioredis).
 */
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { existsSync } from 'node:fs';
import type * as MemoryStoreModule from '../../src/memory-store.js';
import type * as RedisStoreModule from '../../src/redis-store.js';
import type * as KeysModule from '../../middleware/keys.js';
import type * as ExpressModule from '../../middleware/express.js';
import type * as FastifyModule from '../../middleware/fastify.js';

// tollgate as users run it: compiled to JavaScript (dist/, built by http.bench.ts), unless
// TOLLGATE_BENCH_SOURCE=1 asks for the TypeScript sources through tsx (whose keepNames
// wrappers add a cost per closure that compiled code does not pay).
const root = new URL('../../', import.meta.url);
const fromDist = process.env.TOLLGATE_BENCH_SOURCE !== '1' && existsSync(new URL('dist/src/index.js', root));
const base = fromDist ? 'dist/' : '';
const load = <T>(path: string): Promise<T> => import(new URL(`${base}${path}.js`, root).href) as Promise<T>;
const { MemoryStore } = await load<typeof MemoryStoreModule>('src/memory-store');
const { RedisStore } = await load<typeof RedisStoreModule>('src/redis-store');
const { headerKey } = await load<typeof KeysModule>('middleware/keys');

/** Requests per window per key: far above what any key receives in a run. */
export const BENCH_LIMIT = 1_000_000;
/** Window of the limit, ms. */
export const BENCH_WINDOW_MS = 60_000;

type Framework = 'express' | 'fastify';
type Variant = 'none' | 'passthrough' | 'tollgate' | 'tollgate-memory' | 'peer';

const [framework, variant, portArg, poolArg] = process.argv.slice(2) as [Framework, Variant, string, string | undefined];
const redisPort = Number(portArg);
/**
 * The one ioredis client setup every limited variant uses: the peers get such a client, and tollgate's
 * RedisStore gets one as its `client` (it opens its connections as duplicates of it, adding only its
 * queueing and retry settings, which cost nothing per request).
 */
const redisClient = (): Redis => new Redis({ host: '127.0.0.1', port: redisPort });
/**
 * tollgate's RedisStore options: the defaults, or `pool.size` from the optional 4th argument, merged with
 * the JSON object in TOLLGATE_BENCH_STORE_OPTIONS (http.bench.ts --store='{"pool":{"pipeline":2}}').
 */
const extraOptions = JSON.parse(process.env.TOLLGATE_BENCH_STORE_OPTIONS ?? '{}') as { pool?: object };
const storeClient = variant === 'tollgate' ? redisClient() : undefined;
const storeOptions = {
  client: storeClient,
  ...extraOptions,
  pool: { ...(poolArg === undefined ? {} : { size: Number(poolArg) }), ...extraOptions.pool },
};
const apiKey = (req: { headers: Record<string, string | string[] | undefined> }): string => String(req.headers['x-api-key'] ?? 'anonymous');
const closers: (() => Promise<unknown> | void)[] = [() => storeClient?.disconnect()];

async function expressApp(): Promise<(port: number) => Promise<number>> {
  const app = express();
  if (variant === 'passthrough') app.use((_req, _res, next) => next());
  if (variant === 'tollgate' || variant === 'tollgate-memory') {
    const { rateLimit } = await load<typeof ExpressModule>('middleware/express');
    const store = variant === 'tollgate' ? new RedisStore(storeOptions) : new MemoryStore();
    closers.push(() => store.close());
    app.use(rateLimit({ store, limit: { rate: BENCH_LIMIT, period: BENCH_WINDOW_MS }, key: headerKey<Request>('x-api-key') }));
  } else if (variant === 'peer') {
    const { rateLimit } = await import('express-rate-limit');
    const { RedisStore: PeerStore } = await import('rate-limit-redis');
    const client = redisClient();
    closers.push(() => client.disconnect());
    app.use(
      rateLimit({
        windowMs: BENCH_WINDOW_MS,
        limit: BENCH_LIMIT,
        keyGenerator: apiKey,
        validate: false,
        store: new PeerStore({ sendCommand: (command: string, ...args: string[]) => client.call(command, ...args) as never }),
      }),
    );
  }
  app.get('/', (_req, res) => {
    res.json({ hello: 'world' });
  });
  return (port) =>
    new Promise((resolve) => {
      const server = app.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
      closers.push(() => new Promise((r) => server.close(r)));
    });
}

async function fastifyApp(): Promise<(port: number) => Promise<number>> {
  const app = Fastify();
  if (variant === 'passthrough') app.addHook('onRequest', (_req, _reply, done) => done());
  if (variant === 'tollgate' || variant === 'tollgate-memory') {
    const { tollgate } = await load<typeof FastifyModule>('middleware/fastify');
    const store = variant === 'tollgate' ? new RedisStore(storeOptions) : new MemoryStore();
    closers.push(() => store.close());
    await app.register(tollgate, { store, limit: { rate: BENCH_LIMIT, period: BENCH_WINDOW_MS }, key: headerKey<FastifyRequest>('x-api-key') });
  } else if (variant === 'peer') {
    // Imported by a computed name: its type augmentation of `config.rateLimit` differs from tollgate's.
    const peerModule = '@fastify/rate-limit';
    const { default: peer } = (await import(peerModule)) as { default: Parameters<typeof app.register>[0] };
    const client = redisClient();
    closers.push(() => client.disconnect());
    await app.register(peer, { max: BENCH_LIMIT, timeWindow: BENCH_WINDOW_MS, redis: client, keyGenerator: apiKey } as never);
  }
  app.get('/', async () => ({ hello: 'world' }));
  return async (port) => {
    await app.listen({ port, host: '127.0.0.1' });
    closers.push(() => app.close());
    return (app.server.address() as AddressInfo).port;
  };
}

const listen = framework === 'express' ? await expressApp() : await fastifyApp();
const port = await listen(0);
process.stdout.write(`PORT ${port}\n`);
process.stderr.write(`tollgate loaded from ${fromDist ? 'dist/ (compiled)' : 'src/ (tsx)'}\n`);
// SIGUSR2 asks for the CPU time used so far (µs, user + system), to cost each request.
process.on('SIGUSR2', () => {
  const { user, system } = process.cpuUsage();
  process.stdout.write(`CPU ${user + system}\n`);
});
process.on('SIGTERM', () => {
  // Exits once everything closed, or after 2 s (an Express server may wait on a keep-alive socket).
  setTimeout(() => process.exit(0), 2000).unref();
  void Promise.allSettled(closers.map((c) => c())).then(() => process.exit(0));
});
