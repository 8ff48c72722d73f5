/**
 * One demo server process: the metrics SDK, a limiter on the in-process
 * store (or on Redis when REDIS_URL is set), the app listening on loopback,
 * and a close() that releases all of it.
 */
import type { AddressInfo } from 'node:net';
import { Limiter, MemoryStore, RedisStore, type Store } from 'tollgate';
import { createApp } from './app.js';
import { setupMetrics } from './metrics.js';

/** A running demo server. */
export interface DemoServer {
  /** The port it listens on. */
  readonly port: number;
  /** What decides the checks, for the banner. */
  readonly storeLabel: string;
  /** Stops accepting, closes connections, the store and the SDK. */
  close(): Promise<void>;
}

/** The store: Redis at `redisUrl` (keys under `prefix`), or in-process. */
function makeStore(redisUrl: string | undefined, prefix: string): { store: Store; label: string } {
  if (!redisUrl) return { store: new MemoryStore(), label: 'the embedded in-process store (MemoryStore)' };
  return { store: new RedisStore({ url: redisUrl, prefix }), label: `Redis at ${redisUrl} (RedisStore, keys under "${prefix}")` };
}

/** Starts a server; with the cluster module several workers share `port`. */
export async function startServer(port: number, worker: string, redisUrl: string | undefined, prefix: string): Promise<DemoServer> {
  const metrics = setupMetrics();
  const { store, label } = makeStore(redisUrl, prefix);
  const limiter = new Limiter({ store });
  const app = createApp(limiter, metrics, worker);
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve, reject) => {
    const s = app.listen(port, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    storeLabel: label,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
      await metrics.shutdown();
    },
  };
}
