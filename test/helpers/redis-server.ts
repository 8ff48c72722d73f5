/**
 * Test harness: starts throwaway redis-server processes on free loopback
 * ports and stops them afterwards. Tests never touch a Redis they did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
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
