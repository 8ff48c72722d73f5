/**
 * Test harness: starts a throwaway Sentinel setup on free loopback ports: one
 * master, one replica and three Sentinels (`redis-server --sentinel`, as no
 * `redis-sentinel` binary is needed), quorum 2, in a temporary directory; it
 * can kill the master (failover tests), wait for a stable setup (every
 * Sentinel agreeing on a master that has a replica in sync), and stops
 * everything afterwards. Tests never touch a Redis they did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { killChild, stopChildren, waitFor } from './redis-cluster.js';
import { freePort } from './redis-server.js';

/** The name the Sentinels monitor the master under. */
export const SENTINEL_MASTER_NAME = 'tollgate-master';

/** How to start the Sentinel setup. */
export interface RedisSentinelOptions {
  /** `down-after-milliseconds`: how long the master may be silent before it is considered down. Default 1000. */
  readonly downAfter?: number;
}

/** A running throwaway Sentinel setup. */
export interface RedisSentinelProcess {
  /** Ports of the data nodes: the first starts as the master, the second as its replica. */
  readonly dataPorts: readonly number[];
  /** Ports of the three Sentinels. */
  readonly sentinelPorts: readonly number[];
  /** The `sentinels` option of ioredis for this setup. */
  readonly sentinels: readonly { host: string; port: number }[];
  /** A new ioredis client that finds the master through the Sentinels (closed by stop()). */
  client(options?: RedisOptions): Redis;
  /** The port of the master as the first live Sentinel reports it. */
  masterPort(): Promise<number>;
  /**
   * Waits until every Sentinel names the same live master, which has a
   * replica in sync, and sees the two other Sentinels; the same on two polls
   * in a row. Returns the master's port.
   */
  waitStable(ms?: number): Promise<number>;
  /** Kills the data node on `port` with SIGKILL. */
  kill(port: number): Promise<void>;
  /** Stops every process and client and removes the temporary directory. */
  stop(): Promise<void>;
}

function probeClient(port: number): Redis {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  return probe;
}

/**
 * Starts one master, one replica and three Sentinels and waits until the
 * replica is in sync and every Sentinel sees the replica and the two other Sentinels.
 */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-sentinel-'));
  const children = new Map<number, ChildProcess>();
  const clients: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await stopChildren(children.values());
    rmSync(dir, { recursive: true, force: true });
  };
  const probe = (port: number): Redis => {
    const p = probeClient(port);
    clients.push(p);
    return p;
  };
  try {
    const dataPorts = [await freePort(), await freePort()];
    const sentinelPorts = [await freePort(), await freePort(), await freePort()];
    const [masterPort, replicaPort] = dataPorts as [number, number];
    // No delay before a replica's sync (Redis waits 5 s by default for more replicas to join a diskless transfer).
    const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--dir', dir, '--repl-diskless-sync-delay', '0'];
    children.set(masterPort, spawn('redis-server', ['--port', String(masterPort), ...common], { stdio: 'ignore' }));
    children.set(replicaPort, spawn('redis-server', ['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(masterPort), ...common], { stdio: 'ignore' }));
    const replica = probe(replicaPort);
    await waitFor('the replica did not finish its first sync', async () => /master_link_status:up/.test(await replica.info('replication')), 10_000);
    for (const port of sentinelPorts) {
      // Sentinel rewrites its config file, so each gets its own, in the temporary directory.
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${options.downAfter ?? 1000}`,
          // A failed election is retried after twice this: short, so a retry fits the tests' recovery bound.
          `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 4000`,
          `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      children.set(port, spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
    }
    const sentinels = sentinelPorts.map((port) => probe(port));
    await waitFor(
      'the Sentinels did not discover the replica and each other',
      async () =>
        (await Promise.all(sentinels.map((s) => s.call('SENTINEL', 'MASTER', SENTINEL_MASTER_NAME) as Promise<string[]>))).every((fields) => {
          const field = (name: string): string | undefined => fields[fields.indexOf(name) + 1];
          return field('num-slaves') === '1' && field('num-other-sentinels') === '2';
        }),
      20_000,
    );
    const hosts = sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));
    const data = new Map(dataPorts.map((port) => [port, probe(port)]));
    /** The master every Sentinel names, when it is live, with a replica in sync; else undefined. */
    const stableMaster = async (): Promise<number | undefined> => {
      const named = await Promise.all(sentinels.map((s) => s.call('SENTINEL', 'MASTER', SENTINEL_MASTER_NAME) as Promise<string[]>));
      const ports = new Set<number>();
      for (const fields of named) {
        const field = (name: string): string | undefined => fields[fields.indexOf(name) + 1];
        if (field('num-other-sentinels') !== '2' || /s_down|o_down|failover/.test(field('flags') ?? '')) return undefined;
        ports.add(Number(field('port')));
      }
      const [master] = ports;
      const node = master === undefined ? undefined : data.get(master);
      const child = master === undefined ? undefined : children.get(master);
      if (ports.size !== 1 || node === undefined || child?.exitCode !== null || child.signalCode !== null) return undefined;
      const role = (await node.call('ROLE')) as unknown[];
      if (role[0] !== 'master') return undefined;
      for (const [port, replica] of data) {
        if (port === master || children.get(port)?.exitCode !== null || children.get(port)?.signalCode !== null) continue;
        const info = await replica.info('replication');
        if (new RegExp(`master_port:${master}\\b`).test(info) && /master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) return master;
      }
      return undefined;
    };
    const waitStable = async (ms = 30_000): Promise<number> => {
      let last: number | undefined;
      let master: number | undefined;
      await waitFor(
        'the Sentinel setup did not settle (every Sentinel naming one live master with a replica in sync, twice in a row)',
        async () => {
          master = await stableMaster();
          const same = master !== undefined && master === last;
          last = master;
          return same;
        },
        ms,
      );
      return master as number;
    };
    await waitStable();
    return {
      dataPorts,
      sentinelPorts,
      sentinels: hosts,
      client(clientOptions) {
        const c = new Redis({ sentinels: hosts, name: SENTINEL_MASTER_NAME, ...clientOptions });
        c.on('error', () => undefined);
        clients.push(c);
        return c;
      },
      async masterPort() {
        for (const s of sentinels) {
          const address = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME).catch(() => undefined)) as string[] | undefined;
          if (address?.[1] !== undefined) return Number(address[1]);
        }
        throw new Error('no Sentinel reports a master');
      },
      waitStable,
      kill: (port) => killChild(children.get(port)),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
