/**
 * Test harness: starts a throwaway Redis Cluster (three masters, optionally
 * with one replica each) on free loopback ports, in a temporary directory,
 * and stops it afterwards. It can kill and restart a node (failover tests)
 * and move hash slots between masters by hand (resharding tests). Which
 * node is a master is read from the live nodes, never assumed from the start
 * order (a starved machine can fail a master over on its own), and tests
 * wait for a stable topology before relying on one. Tests never touch a
 * Redis they did not start.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/** How to start a cluster. */
export interface RedisClusterOptions {
  /** Replicas per master (0 or 1). Default 0. */
  readonly replicas?: 0 | 1;
  /** `cluster-node-timeout` in ms: how soon a silent master is marked failed. Default 5000. */
  readonly nodeTimeout?: number;
  /** `cluster-require-full-coverage`. Default true (Redis's default). */
  readonly fullCoverage?: boolean;
}

/** How many slots a Redis Cluster has. */
const SLOTS = 16_384;

/** The shape of the cluster now, as its live nodes report it. */
export interface ClusterTopology {
  /** Ports of the live masters that serve slots, in the order of their first slot. */
  readonly masters: readonly number[];
  /** Ports of the live replicas in sync with each master. */
  readonly replicas: ReadonlyMap<number, readonly number[]>;
}

/** What {@link RedisClusterProcess.waitStable} waits for. */
export interface StableOptions {
  /** Every master also has a replica in sync with it. Default false. */
  readonly replicas?: boolean;
  /** Most ms to wait. Default 30,000. */
  readonly ms?: number;
}

/** A running throwaway Redis Cluster. */
export interface RedisClusterProcess {
  /** Loopback ports of every node (which of them are masters now: see masters()). */
  readonly ports: readonly number[];
  /** Ports of the live nodes that are masters serving slots now (ROLE and CLUSTER NODES of each), in the order of their first slot. */
  masters(): Promise<number[]>;
  /** Ports of the live replicas connected to the master on `port` now (ROLE of each). */
  replicaOf(port: number): Promise<number[]>;
  /**
   * Waits until the topology is stable: every live node reports
   * `cluster_state:ok` with every slot served, all of them agree on who
   * serves which slot (three live masters), and (with `replicas`) each
   * master has a replica in sync; the same on two polls in a row. Returns it.
   */
  waitStable(options?: StableOptions): Promise<ClusterTopology>;
  /** Refreshes `client`'s slot map until it routes every slot to the master the nodes report. */
  syncClient(client: Cluster, ms?: number): Promise<void>;
  /** A new ioredis Cluster client seeded with every live node (closed by stop()). */
  cluster(options?: ClusterOptions): Cluster;
  /** A plain client to one node, e.g. for CLUSTER KEYSLOT or SCRIPT FLUSH (closed by stop()). */
  node(index: number): Redis;
  /** The port of the master that serves `slot` now, as node `index` sees it (default: a live node). */
  ownerOf(slot: number): Promise<number>;
  /** Kills a node with SIGKILL (no chance to answer or replicate anything more). */
  kill(port: number): Promise<void>;
  /** Starts a killed node again with its cluster config: it rejoins (as a replica of whoever took over). */
  restart(port: number): Promise<void>;
  /**
   * Moves `slots` from the master on port `from` to the master on port `to`,
   * one slot at a time (IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT
   * NODE on every master), as `redis-cli --cluster reshard` does. Both must
   * be masters now (else it throws, naming the current masters).
   */
  moveSlots(slots: readonly number[], from: number, to: number): Promise<void>;
  /** Waits until every live node reports `cluster_state:ok`. */
  waitHealthy(ms?: number): Promise<void>;
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

/** Polls `check` every 50 ms until it is true; throws `<what> within <ms> ms` after `ms`. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} within ${ms} ms`);
}

/** Stops child processes with SIGTERM and waits for them to exit. */
export function stopChildren(children: Iterable<ChildProcess>): Promise<unknown> {
  return Promise.all(
    [...children].map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      return exited;
    }),
  );
}

/** Kills a child process with SIGKILL and waits until it is gone. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** A client that tries once and never queues, for probing nodes that may be down. */
function probeClient(port: number): Redis {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: true, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  return probe;
}

/**
 * Starts a Redis Cluster of three masters (with `replicas` replicas each) on
 * loopback and waits until every node reports `cluster_state:ok` and every
 * replica is in sync with its master.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterProcess> {
  const replicas = options.replicas ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const children = new Map<number, ChildProcess>();
  const clients: (Redis | Cluster)[] = [];
  const probes = new Map<number, Redis>();
  const taken = new Set<number>();
  const ports: number[] = [];
  const spawnNode = (port: number): void => {
    children.set(
      port,
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', String(options.nodeTimeout ?? 5000), '--cluster-require-full-coverage', options.fullCoverage === false ? 'no' : 'yes',
          '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--repl-diskless-sync-delay', '0'],
        { stdio: 'ignore' },
      ),
    );
  };
  const live = (): number[] => ports.filter((port) => {
    const child = children.get(port);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  });
  const probe = (port: number): Redis => {
    let p = probes.get(port);
    if (p === undefined) {
      p = probeClient(port);
      probes.set(port, p);
      clients.push(p);
    }
    return p;
  };
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await stopChildren(children.values());
    rmSync(dir, { recursive: true, force: true });
  };
  const waitHealthy = (ms = 20_000): Promise<void> =>
    waitFor(
      'the cluster did not report cluster_state:ok on every live node',
      async () => (await Promise.all(live().map((port) => probe(port).cluster('INFO')))).every((info) => String(info).includes('cluster_state:ok')),
      ms,
    );
  const nodeId = async (port: number): Promise<string> => String(await probe(port).cluster('MYID'));
  const role = async (port: number): Promise<unknown[]> => (await probe(port).call('ROLE')) as unknown[];
  /** Live masters serving at least one slot (by their own CLUSTER NODES line), by first slot. */
  const masters = async (): Promise<number[]> => {
    const found: [number, number][] = [];
    for (const port of live()) {
      const [kind] = await role(port).catch(() => ['down']);
      if (kind !== 'master') continue;
      const myself = String(await probe(port).cluster('NODES')).split('\n').find((line) => line.split(' ')[2]?.split(',').includes('myself'));
      const first = myself?.split(' ').slice(8).map((range) => Number.parseInt(range, 10)).find((n) => Number.isInteger(n));
      if (first !== undefined) found.push([first, port]);
    }
    return found.sort((a, b) => a[0] - b[0]).map(([, port]) => port);
  };
  const replicaOf = async (master: number): Promise<number[]> => {
    const found: number[] = [];
    for (const port of live()) {
      const r = await role(port).catch(() => []);
      if (r[0] === 'slave' && Number(r[2]) === master && r[3] === 'connected') found.push(port);
    }
    return found;
  };
  /** The master port serving each slot, as `port` reports it (CLUSTER SLOTS). */
  const slotMap = async (port: number): Promise<Int32Array> => {
    const map = new Int32Array(SLOTS);
    for (const [start, end, master] of await probe(port).cluster('SLOTS')) if (master !== undefined) map.fill(master[1], start, end + 1);
    return map;
  };
  /** The topology when it is whole and every live node agrees on it, else undefined. */
  const topology = async (replicas: boolean): Promise<ClusterTopology | undefined> => {
    const nodes = live();
    const infos = await Promise.all(nodes.map((port) => probe(port).cluster('INFO').then(String)));
    if (!infos.every((info) => /cluster_state:ok/.test(info) && info.includes(`cluster_slots_ok:${SLOTS}`))) return undefined;
    const found = await masters();
    if (found.length !== 3) return undefined;
    const maps = await Promise.all(nodes.map(slotMap));
    const first = maps[0] as Int32Array;
    if (!maps.every((m) => m.every((owner, slot) => owner === first[slot])) || !first.every((owner) => found.includes(owner))) return undefined;
    const byMaster = new Map<number, number[]>();
    for (const master of found) {
      const synced: number[] = [];
      for (const port of await replicaOf(master)) {
        const info = await probe(port).info('replication');
        if (/master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) synced.push(port);
      }
      if (replicas && synced.length === 0) return undefined;
      byMaster.set(master, synced);
    }
    return { masters: found, replicas: byMaster };
  };
  const waitStable = async (stable: StableOptions = {}): Promise<ClusterTopology> => {
    let last: string | undefined;
    let result: ClusterTopology | undefined;
    const what = stable.replicas === true ? ', three masters each with a replica in sync' : ', three masters';
    await waitFor(
      `the cluster did not settle (every slot served, every live node agreeing${what}, twice in a row)`,
      async () => {
        const t = await topology(stable.replicas === true);
        const key = t && JSON.stringify([t.masters, [...t.replicas]]);
        const same = key !== undefined && key === last;
        last = key;
        result = t;
        return same;
      },
      stable.ms ?? 30_000,
    );
    return result as ClusterTopology;
  };
  try {
    for (let i = 0; i < 3 * (1 + replicas); i += 1) {
      const port = await clusterPort(taken);
      taken.add(port);
      taken.add(port + 10_000);
      ports.push(port);
      spawnNode(port);
    }
    await waitFor('cluster nodes did not answer PING', async () => (await Promise.all(ports.map((p) => probe(p).ping()))).every((r) => r === 'PONG'), 10_000);
    // redis-cli makes the first three nodes masters and the others their replicas.
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    await waitHealthy();
    await waitStable({ replicas: replicas > 0 });
    return {
      ports,
      masters,
      replicaOf,
      waitStable,
      async syncClient(client, ms = 10_000) {
        await waitFor(
          'the client\'s slot map did not match the cluster\'s',
          async () => {
            await new Promise<void>((resolve, reject) => client.refreshSlotsCache((error) => (error ? reject(error) : resolve())));
            const [port] = live();
            const map = await slotMap(port as number);
            return map.every((owner, slot) => Number(client.slots[slot]?.[0]?.split(':')[1]) === owner);
          },
          ms,
        );
      },
      cluster(clusterOptions) {
        const c = new Cluster(live().map((port) => ({ host: '127.0.0.1', port })), clusterOptions);
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
      async ownerOf(slot) {
        for (const port of live()) {
          const ranges = (await probe(port).cluster('SLOTS').catch(() => undefined)) as [number, number, [string, number]][] | undefined;
          const range = ranges?.find(([start, end]) => start <= slot && slot <= end);
          if (range) return range[2][1];
        }
        throw new Error(`no live node knows who serves slot ${slot}`);
      },
      async kill(port) {
        await killChild(children.get(port));
        probes.get(port)?.disconnect();
        probes.delete(port);
      },
      async restart(port) {
        spawnNode(port);
        await waitFor(`node ${port} did not answer PING after its restart`, async () => (await probe(port).ping()) === 'PONG', 10_000);
      },
      async moveSlots(slots, from, to) {
        const current = await masters();
        for (const port of [from, to]) if (!current.includes(port)) throw new Error(`node ${port} is not a master now (masters: ${current.join(', ')})`);
        const [fromId, toId] = await Promise.all([nodeId(from), nodeId(to)]);
        for (const slot of slots) {
          await probe(to).cluster('SETSLOT', slot, 'IMPORTING', fromId);
          await probe(from).cluster('SETSLOT', slot, 'MIGRATING', toId);
          for (;;) {
            const keys = (await probe(from).cluster('GETKEYSINSLOT', slot, 100)) as string[];
            if (keys.length === 0) break;
            await probe(from).migrate('127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys);
          }
          // The new owner first, then the old one, then the others (as redis-cli does).
          for (const port of [to, from, ...current.filter((p) => p !== to && p !== from)]) await probe(port).cluster('SETSLOT', slot, 'NODE', toId);
        }
      },
      waitHealthy,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
