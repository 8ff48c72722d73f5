/**
 * The connections of a RedisStore. A pool either borrows the caller's ioredis
 * client (never closed here) or owns `size` connections that it opens from a
 * URL or ioredis options, with settings that make failures fast and bounded,
 * and closes on close(). ioredis is imported lazily, only when the pool opens
 * connections itself, so the package loads without it.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { ErrorCodes, LimiterError } from './errors.js';
import type { ScriptClient } from './script.js';

/** What a pool needs of a connection: scripts (EVALSHA, EVAL, SCRIPT LOAD) and DEL. */
export interface LaneClient extends ScriptClient {
  /** DEL key... */
  del(...keys: string[]): Promise<number>;
  /** SCRIPT LOAD source */
  script(subcommand: 'LOAD', source: string): Promise<unknown>;
  /** True on an ioredis `Cluster` client. */
  readonly isCluster?: boolean;
  /** The connections to the cluster's nodes (ioredis `Cluster`). */
  nodes?(role: 'master'): LaneClient[];
}

/** One connection of a pool, with the work in flight on it. */
export class Lane {
  /** The connection. */
  readonly client: LaneClient;
  /** Checks (or reset keys) in flight on this connection. */
  inFlight = 0;
  /** Script calls in flight on this connection. */
  calls = 0;
  /**
   * True once SCRIPT LOAD was sent on this connection since it (re)connected.
   * A call sent after it on the same connection finds the script, so no call
   * needs the NOSCRIPT fallback, whose EVAL would otherwise run after calls
   * pipelined behind it and break their order.
   */
  primed = false;
  /** Where the connection goes (from its ioredis options), for telemetry; no credentials. */
  readonly server: LaneServer;
  readonly #isReady: () => boolean;

  /** @param client - the connection; @param isReady - whether it can take commands now */
  constructor(client: LaneClient, isReady: () => boolean) {
    this.client = client;
    this.#isReady = isReady;
    this.server = serverOf(client);
  }

  /** True when the connection can take commands now. */
  get ready(): boolean {
    return this.#isReady();
  }
}

/** Address, port and database of a connection, as configured. */
export interface LaneServer {
  /** Host name or address. */
  readonly address?: string;
  /** TCP port. */
  readonly port?: number;
  /** Database index, as a string. */
  readonly namespace?: string;
}

function serverOf(client: LaneClient): LaneServer {
  const options = (client as { options?: { host?: unknown; port?: unknown; db?: unknown } }).options;
  if (typeof options !== 'object' || options === null) return {};
  return {
    ...(typeof options.host === 'string' ? { address: options.host } : {}),
    ...(typeof options.port === 'number' ? { port: options.port } : {}),
    ...(typeof options.db === 'number' ? { namespace: String(options.db) } : {}),
  };
}

/** How an owned pool opens its connections. */
export interface OwnedPoolOptions {
  /** redis:// or rediss:// URL, if given. */
  readonly url?: string;
  /** ioredis options; they override the pool's defaults. */
  readonly redis?: RedisOptions;
  /** Number of connections (>= 1). */
  readonly size: number;
  /** The store's deadline in ms; bounds the connect timeout from below. */
  readonly timeout: number;
}

/**
 * ioredis settings of owned connections: no offline queue (a command sent
 * while disconnected fails at once instead of waiting unboundedly), no
 * retried or replayed commands (a script call is never run twice, and a lost
 * connection fails its calls at once), a bounded connect timeout, and
 * reconnection with a capped backoff. No per-command timeout (it costs a
 * timer per command): checks fail at their own deadline, and a connection
 * that stops answering is recycled by the store (see {@link Pool.recycle}).
 * Options given by the caller win.
 */
export function ownedConnectionDefaults(timeout: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.max(1000, timeout),
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    connectionName: 'tollgate',
  };
}

interface OwnedConnection {
  readonly client: Redis;
  lastError: Error | undefined;
}

/** The connections a store sends its script calls over. */
export class Pool {
  /** The connections; empty until an owned pool has loaded ioredis. */
  readonly lanes: Lane[] = [];
  /** True when the pool opened the connections itself (and closes them). */
  readonly owned: boolean;
  readonly #connections: OwnedConnection[] = [];
  #onChange: () => void = () => undefined;
  #loadError: LimiterError | undefined;
  #closed = false;
  #opening: Promise<void> | undefined;

  private constructor(owned: boolean) {
    this.owned = owned;
  }

  /** A pool of one borrowed connection: the caller's client, never closed by the pool. */
  static borrowed(client: LaneClient): Pool {
    const pool = new Pool(false);
    pool.lanes.push(new Lane(client, () => true));
    return pool;
  }

  /** A pool that opens `size` connections (asynchronously: ioredis is imported on demand). */
  static owned(options: OwnedPoolOptions): Pool {
    const pool = new Pool(true);
    pool.#opening = pool.#open(options);
    return pool;
  }

  /** Sets the function called when a connection becomes ready or fails. */
  onChange(callback: () => void): void {
    this.#onChange = callback;
  }

  /** The ready connection with the least work in flight and fewer than `maxCalls` calls out, if any. */
  leastLoaded(maxCalls: number): Lane | undefined {
    let best: Lane | undefined;
    for (const lane of this.lanes) {
      if (lane.ready && lane.calls < maxCalls && (best === undefined || lane.inFlight < best.inFlight)) best = lane;
    }
    return best;
  }

  /**
   * Why the pool cannot serve anything right now: ioredis failed to load, or
   * every owned connection is down after an error. Undefined while any
   * connection is ready or still opening for the first time.
   */
  failure(): LimiterError | undefined {
    if (this.#loadError) return this.#loadError;
    if (!this.owned || this.#connections.length === 0) return undefined;
    let cause: Error | undefined;
    for (const c of this.#connections) {
      if (c.client.status === 'ready') return undefined;
      const error = c.lastError ?? (c.client.status === 'end' ? new Error('connection closed') : undefined);
      if (!error) return undefined;
      cause = error;
    }
    return new LimiterError(ErrorCodes.STORE, `Redis is unreachable: ${cause?.message ?? 'no connection'}`, { cause });
  }

  /**
   * Drops and reopens an owned connection that stopped answering: its calls
   * in flight fail at once, freeing their slots. A borrowed client is never
   * touched (its own settings, e.g. `commandTimeout`, decide).
   */
  recycle(lane: Lane): void {
    if (!this.owned || this.#closed) return;
    const connection = this.#connections.find((c) => (c.client as unknown) === lane.client);
    connection?.client.disconnect(true);
  }

  /** Closes owned connections (QUIT, then disconnect after `graceMs`); a borrowed client is left open. */
  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    await this.#opening;
    await Promise.all(this.#connections.map((c) => closeConnection(c.client, graceMs)));
  }

  async #open(options: OwnedPoolOptions): Promise<void> {
    let RedisClass: typeof Redis;
    try {
      const mod = await import('ioredis');
      RedisClass = mod.Redis;
    } catch (error) {
      this.#loadError = new LimiterError(
        ErrorCodes.STORE,
        `RedisStore options "url" and "redis" need the ioredis package (npm install ioredis): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
      this.#onChange();
      return;
    }
    if (this.#closed) return;
    const settings: RedisOptions = { ...ownedConnectionDefaults(options.timeout), ...options.redis };
    for (let i = 0; i < options.size; i += 1) {
      const client = options.url === undefined ? new RedisClass(settings) : new RedisClass(options.url, settings);
      const connection: OwnedConnection = { client, lastError: undefined };
      client.on('error', (error: Error) => {
        connection.lastError = error;
        this.#onChange();
      });
      const lane = new Lane(client as unknown as LaneClient, () => client.status === 'ready');
      client.on('ready', () => {
        connection.lastError = undefined;
        lane.primed = false; // the server may have restarted and lost its scripts
        this.#onChange();
      });
      client.on('close', () => this.#onChange());
      client.on('end', () => this.#onChange());
      if (client.status === 'wait') client.connect().catch(() => undefined);
      this.#connections.push(connection);
      this.lanes.push(lane);
    }
    this.#onChange();
  }
}

async function closeConnection(client: Redis, graceMs: number): Promise<void> {
  if (client.status === 'ready') {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([client.quit().then(() => undefined, () => undefined), grace]);
    clearTimeout(timer);
  }
  client.disconnect();
}
