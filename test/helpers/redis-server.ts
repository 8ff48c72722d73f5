/**
 * Test harness: starts throwaway redis-server processes on free loopback
 * ports and stops them afterwards, either by hand (startRedis) or through a
 * suite's before/after hooks (useRedis). Tests never touch a Redis they did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';

/** A running redis-server started by the harness. */
export interface RedisProcess {
  /** Loopback port it listens on. */
  readonly port: number;
  /** redis://127.0.0.1:port */
  readonly url: string;
  /** A new ioredis client for this server (closed by stop()). */
  client(): Redis;
  /** Stops the server and closes every client handed out. */
  stop(): Promise<void>;
}

/** Finds a free loopback TCP port (the OS picks one, we release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPing(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${deadlineMs} ms`);
}

/** Starts a standalone redis-server with no persistence; extra args are appended. */
export async function startRedis(extraArgs: readonly string[] = []): Promise<RedisProcess> {
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', ...extraArgs],
      { stdio: 'ignore' },
    );
    try {
      await waitForPing(port, child, 5000);
    } catch (error) {
      child.kill('SIGKILL');
      if (attempt < 3) continue;
      throw error;
    }
    const clients: Redis[] = [];
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      client() {
        const c = new Redis({ port, host: '127.0.0.1' });
        clients.push(c);
        return c;
      },
      async stop() {
        for (const c of clients) c.disconnect();
        if (child.exitCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      },
    };
  }
}

/** The server of a suite that called useRedis(); readable once the suite's before() hook has run. */
export interface SuiteRedis {
  /** Loopback port it listens on. */
  readonly port: number;
  /** redis://127.0.0.1:port */
  readonly url: string;
  /** One client shared by the whole suite, opened on first use (closed when the server stops). */
  readonly shared: Redis;
  /** A new ioredis client for this server (closed when the server stops). */
  client(): Redis;
  /** Stops the server early, e.g. to simulate a dead Redis; the after() hook then has nothing left to do. */
  stop(): Promise<void>;
}

/**
 * Gives the enclosing describe() (or the whole file, at top level) its own
 * throwaway Redis: registers a before() hook that starts it (extra args as for
 * startRedis) and an after() hook that stops it. node:test runs after() hooks
 * in registration order, so an after() hook the suite registers before calling
 * useRedis() runs while the server is still up, and one registered later runs
 * once it has stopped. Reading the result before the before() hook has run
 * (e.g. in the describe body itself) throws.
 */
export function useRedis(extraArgs: readonly string[] = []): SuiteRedis {
  let server: RedisProcess | undefined;
  let shared: Redis | undefined;
  before(async () => {
    server = await startRedis(extraArgs);
  });
  after(async () => {
    await server?.stop();
  });
  const running = (what: string): RedisProcess => {
    if (server) return server;
    throw new Error(`useRedis(): ${what} was read before the suite's before() hook started Redis; read it inside a test or hook, not in the describe() body`);
  };
  return {
    get port() {
      return running('port').port;
    },
    get url() {
      return running('url').url;
    },
    get shared() {
      shared ??= running('shared').client();
      return shared;
    },
    client: () => running('client()').client(),
    stop: () => running('stop()').stop(),
  };
}
