/**
 * Test harness: starts a throwaway Redis Cluster (three masters, no
 * replicas) on free loopback ports, in a temporary directory, and stops it
 * afterwards. Tests never touch a Redis they did not start.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/** A running throwaway Redis Cluster. */
export interface RedisClusterProcess {
  /** Loopback ports of the masters. */
  readonly ports: readonly number[];
  /** A new ioredis Cluster client (closed by stop()). */
  cluster(): Cluster;
  /** A plain client to one node, e.g. for CLUSTER KEYSLOT or SCRIPT FLUSH (closed by stop()). */
  node(index: number): Redis;
  /** Stops every node and client and removes the temporary directory. */
  stop(): Promise<void>;
}

/** A free port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await freePort();
    if (port > 55_000 || taken.has(port) || taken.has(port + 10_000)) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const probe = spawn(process.execPath, ['-e', `require('net').createServer().once('error',()=>process.exit(1)).listen(${port + 10_000},'127.0.0.1',function(){this.close()})`]);
      probe.once('exit', (code) => resolve(code === 0));
    });
    if (bus) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node');
}

async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} within ${ms} ms`);
}

/** Starts a three-master Redis Cluster on loopback and waits until it reports `cluster_state:ok` on every node. */
export async function startRedisCluster(): Promise<RedisClusterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const children: ChildProcess[] = [];
  const clients: (Redis | Cluster)[] = [];
  const taken = new Set<number>();
  const ports: number[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i += 1) {
      const port = await clusterPort(taken);
      taken.add(port);
      taken.add(port + 10_000);
      ports.push(port);
      children.push(
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
            '--cluster-node-timeout', '5000', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
          { stdio: 'ignore' },
        ),
      );
    }
    const probes = ports.map((port) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 }));
    clients.push(...probes);
    for (const probe of probes) probe.on('error', () => undefined);
    await waitFor('cluster nodes did not answer PING', async () => (await Promise.all(probes.map((p) => p.ping()))).every((r) => r === 'PONG'), 10_000);
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await waitFor(
      'the cluster did not report cluster_state:ok',
      async () => (await Promise.all(probes.map((p) => p.cluster('INFO')))).every((info) => String(info).includes('cluster_state:ok')),
      20_000,
    );
    return {
      ports,
      cluster() {
        const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
        clients.push(c);
        return c;
      },
      node(index) {
        const port = ports[index];
        if (port === undefined) throw new Error(`no cluster node ${index}`);
        const c = new Redis({ port, host: '127.0.0.1' });
        clients.push(c);
        return c;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
