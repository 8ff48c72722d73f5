/**
 * Test harness: a TCP proxy on a free loopback port in front of a harness
 * Redis, that injects network faults between the limiter and Redis:
 * - `latency`: every chunk, both ways, is delayed by `latencyMs`;
 * - `blackhole`: nothing moves (a dead path: bytes wait, as TCP keeps
 *   them, and flow again when the path heals); new connections are accepted
 *   and wait too;
 * - `tarpit`: existing connections are cut, and new ones are accepted but
 *   never answered, even after healing (a load balancer with a dead backend);
 * - `refuse`: existing connections are cut and new ones reset at once
 *   (a port nothing listens on);
 * - `mute`: requests reach Redis but its replies are dropped (a reply lost
 *   on the way back: Redis ran the command, the client never hears);
 * and `resetAll()` resets every open connection once (RST both ways).
 */
import { type Server, type Socket, connect, createServer } from 'node:net';

/** The faults a {@link FaultProxy} can inject; `none` forwards everything as it comes. */
export type Fault = 'none' | 'latency' | 'blackhole' | 'tarpit' | 'refuse' | 'mute';

/** A running fault proxy. */
export interface FaultProxy {
  /** Loopback port the proxy listens on. */
  readonly port: number;
  /** redis://127.0.0.1:port */
  readonly url: string;
  /** The fault in force. */
  readonly fault: Fault;
  /** Connections currently open through the proxy (tarpitted ones included). */
  readonly connections: number;
  /** Switches to `fault` (`latencyMs` for `latency`); `none` heals the path. */
  set(fault: Fault, latencyMs?: number): void;
  /** Resets every open connection (RST to both sides); returns how many. */
  resetAll(): number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Chunks held while the path is black-holed, per direction. */
  readonly held: { toServer: Buffer[]; toClient: Buffer[] };
  /** Accepted under `tarpit`: never answered. */
  readonly tarpitted: boolean;
}

/**
 * Ends a socket: with a TCP RST when `hard` (the faults that break a path),
 * else with a plain close. Node 20 can spin its event loop after the last
 * resetAndDestroy() of a process (timers starve, the process never exits),
 * so resets are kept to the faults that need them.
 */
function end(socket: Socket | undefined, hard: boolean): void {
  if (socket === undefined || socket.destroyed) return;
  if (hard && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

/** Starts a fault proxy in front of `targetPort` on 127.0.0.1, with no fault. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let fault: Fault = 'none';
  let latencyMs = 0;

  /** Chunks waiting out their latency, per destination socket, in order (later chunks never overtake). */
  const queues = new WeakMap<Socket, { at: number; chunk: Buffer }[]>();
  const drain = (to: Socket): void => {
    const queue = queues.get(to);
    if (queue === undefined) return;
    const now = performance.now();
    while (queue.length > 0 && (queue[0] as { at: number }).at <= now) {
      const { chunk } = queue.shift() as { chunk: Buffer };
      if (!to.destroyed) to.write(chunk);
    }
    if (queue.length === 0) queues.delete(to);
    else setTimeout(() => drain(to), (queue[0] as { at: number }).at - now);
  };
  const deliver = (to: Socket | undefined, chunk: Buffer): void => {
    if (to === undefined || to.destroyed) return;
    const queue = queues.get(to);
    const delay = fault === 'latency' ? latencyMs : 0;
    if (queue === undefined && delay === 0) {
      to.write(chunk);
      return;
    }
    const at = performance.now() + delay;
    if (queue === undefined) {
      queues.set(to, [{ at, chunk }]);
      setTimeout(() => drain(to), delay);
    } else {
      queue.push({ at: Math.max(at, (queue[queue.length - 1] as { at: number }).at), chunk });
    }
  };

  const drop = (pair: Pair, hard = false): void => {
    pairs.delete(pair);
    end(pair.client, hard);
    end(pair.upstream, hard);
  };

  const connectUpstream = (pair: Pair): void => {
    const upstream = connect(targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => {
      if (fault === 'mute') return; // the reply is lost
      if (fault === 'blackhole') pair.held.toClient.push(chunk);
      else deliver(pair.client, chunk);
    });
    upstream.on('error', () => drop(pair));
    upstream.on('close', () => drop(pair));
    for (const chunk of pair.held.toServer.splice(0)) upstream.write(chunk);
  };

  const flush = (): void => {
    for (const pair of pairs) {
      if (pair.tarpitted) continue;
      if (pair.upstream === undefined) connectUpstream(pair);
      else for (const chunk of pair.held.toServer.splice(0)) pair.upstream.write(chunk);
      for (const chunk of pair.held.toClient.splice(0)) deliver(pair.client, chunk);
    }
  };

  const server: Server = createServer((client) => {
    if (fault === 'refuse') {
      client.on('error', () => undefined);
      end(client, true);
      return;
    }
    const pair: Pair = { client, upstream: undefined, held: { toServer: [], toClient: [] }, tarpitted: fault === 'tarpit' };
    pairs.add(pair);
    client.on('error', () => drop(pair));
    client.on('close', () => drop(pair));
    client.on('data', (chunk: Buffer) => {
      if (pair.tarpitted) return; // swallowed for good
      if (fault === 'blackhole' || pair.upstream === undefined) pair.held.toServer.push(chunk);
      else deliver(pair.upstream, chunk);
    });
    if (fault !== 'blackhole' && !pair.tarpitted) connectUpstream(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get fault() {
      return fault;
    },
    get connections() {
      return pairs.size;
    },
    set(next: Fault, ms = 0) {
      fault = next;
      latencyMs = ms;
      if (next === 'tarpit' || next === 'refuse') {
        for (const pair of [...pairs]) drop(pair, true);
      } else if (next === 'none' || next === 'latency') {
        flush();
      }
    },
    resetAll() {
      const n = pairs.size;
      for (const pair of [...pairs]) drop(pair, true);
      return n;
    },
    async close() {
      for (const pair of [...pairs]) drop(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
