/**
 * The connections of a RedisStore. A pool owns `size` connections that it
 * opens from a URL, from ioredis options, or as duplicates of the caller's
 * ioredis client (`client.duplicate()`: the caller's server, credentials and
 * TLS, with the store's own failure settings), and closes them on close().
 * Owned connections have settings that make failures fast and bounded, and
 * one that is not ready within its connect timeout is torn down and retried.
 * A client that cannot be duplicated (an ioredis Cluster, a custom client) is
 * used as it is and never closed here; the pool then watches its status.
 * ioredis is imported lazily, only when the pool opens connections from a
 * URL or options, so the package loads without it.
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
  /** ioredis connection status (`ready`, `connecting`, `reconnecting`, `end`...), when the client has one. */
  readonly status?: string;
  /** ioredis event subscription, when the client has one (status events only are used). */
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Removes a listener added with `on` (a borrowed client's, when its store closes). */
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
  /** INFO section (for the eviction guard). */
  info?(section: string): Promise<string>;
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
  /** The caller's ioredis client: connections are its duplicates, with the store's settings. */
  readonly template?: Redis;
  /** redis:// or rediss:// URL, if given. */
  readonly url?: string;
  /** ioredis options; they override the pool's defaults. */
  readonly redis?: RedisOptions;
  /** Number of connections (>= 1). */
  readonly size: number;
  /** The store's deadline in ms; bounds the connect timeout from below. */
  readonly timeout: number;
}

/** Longest backoff between reconnection attempts of an owned connection, ms. */
export const MAX_RECONNECT_DELAY = 200;

/**
 * Connect timeout of owned connections by default: the store's deadline,
 * clamped to [100, 500] ms. It bounds the whole way to `ready` (TCP, TLS and
 * the ready check), so that with the reconnect backoff a healed path is used
 * again within a second.
 */
export function defaultConnectTimeout(timeout: number): number {
  return Math.min(500, Math.max(100, timeout));
}

/**
 * The settings the store's own connections rely on (they override a
 * duplicated client's): no offline queue (a command sent while disconnected
 * fails at once instead of waiting unboundedly); no retried or replayed
 * commands (`autoResendUnfulfilledCommands: false` and
 * `maxRetriesPerRequest: 0`, together: a script call is never re-sent after a
 * reconnect, and a lost connection rejects its unanswered calls at once, so
 * they settle); reconnection with a backoff capped at
 * {@link MAX_RECONNECT_DELAY}.
 */
export function safetySettings(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(50 * times, MAX_RECONNECT_DELAY),
  };
}

/**
 * ioredis settings of connections the store opens from a URL or options:
 * {@link safetySettings}, a connect timeout (see {@link defaultConnectTimeout})
 * and the connection name `tollgate`. No per-command timeout (it costs a
 * timer per command): checks fail at their own deadline, and a connection
 * that stops answering is recycled by the store (see {@link Pool.recycle}).
 * Options given by the caller win.
 */
export function ownedConnectionDefaults(timeout: number): RedisOptions {
  return { ...safetySettings(), connectTimeout: defaultConnectTimeout(timeout), connectionName: 'tollgate' };
}

interface OwnedConnection {
  readonly client: Redis;
  lastError: Error | undefined;
  /**
   * Attempts in a row torn down for not being ready in time, and why. One
   * alone does not make the connection count as down (a busy process may
   * just have been slow to get there); two do.
   */
  stalls: number;
  stallError: Error | undefined;
  /** Tears the connection down when it is not ready within the connect timeout. */
  watchdog: ReturnType<typeof setTimeout> | undefined;
}

/** Statuses of an ioredis client in which it cannot take commands and is not about to. */
const DOWN_STATUSES: readonly string[] = ['reconnecting', 'close', 'end'];

/** The connections a store sends its script calls over. */
export class Pool {
  /** The connections; empty until an owned pool has loaded ioredis. */
  readonly lanes: Lane[] = [];
  /** True when the pool opened the connections itself (and closes them). */
  readonly owned: boolean;
  readonly #connections: OwnedConnection[] = [];
  #onChange: () => void = () => undefined;
  #onReady: (lane: Lane) => void = () => undefined;
  #loadError: LimiterError | undefined;
  #closed = false;
  /** Removes the listeners a borrowed pool put on its client. */
  #detach: (() => void) | undefined;
  #opening: Promise<void> | undefined;

  private constructor(owned: boolean) {
    this.owned = owned;
  }

  /**
   * A pool of one borrowed connection: the caller's client, used as it is and
   * never closed by the pool. When it has an ioredis status, it counts as
   * ready only while `ready` (or `wait`, which connects on the first
   * command), and the pool follows its status events.
   */
  static borrowed(client: LaneClient): Pool {
    const pool = new Pool(false);
    const status = (): string | undefined => client.status;
    const lane = new Lane(client, () => {
      const s = status();
      return s === undefined || s === 'ready' || s === 'wait';
    });
    pool.lanes.push(lane);
    if (typeof client.on === 'function') {
      const listeners: [string, () => void][] = [];
      for (const event of ['ready', 'close', 'end', 'reconnecting', 'connect']) {
        const listener = (): void => {
          if (event === 'ready') pool.#onReady(lane);
          pool.#onChange();
        };
        client.on(event, listener);
        listeners.push([event, listener]);
      }
      // The caller's client outlives the store: closing must take the listeners back, or each
      // store built on one client would stay reachable from it (and pile up listeners).
      pool.#detach = () => {
        for (const [event, listener] of listeners) client.removeListener?.(event, listener);
      };
    }
    return pool;
  }

  /**
   * A pool that opens `size` connections: duplicates of `template`
   * (synchronously), or from a URL or options (asynchronously: ioredis is
   * imported on demand).
   */
  static owned(options: OwnedPoolOptions): Pool {
    const pool = new Pool(true);
    if (options.template) pool.#connect(options, (settings) => (options.template as Redis).duplicate(settings));
    else pool.#opening = pool.#open(options);
    return pool;
  }

  /** Sets the function called when a connection becomes ready or fails. */
  onChange(callback: () => void): void {
    this.#onChange = callback;
  }

  /** Sets the function called each time a connection becomes ready. */
  onReady(callback: (lane: Lane) => void): void {
    this.#onReady = callback;
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
    if (!this.owned) {
      const status = this.lanes[0]?.client.status;
      if (status === undefined || !DOWN_STATUSES.includes(status)) return undefined;
      return new LimiterError(ErrorCodes.STORE, `Redis is unreachable: the client's connection is ${status}`);
    }
    if (this.#connections.length === 0) return undefined;
    let cause: Error | undefined;
    for (const c of this.#connections) {
      if (c.client.status === 'ready') return undefined;
      const error = c.lastError ?? (c.stalls >= 2 ? c.stallError : undefined) ?? (c.client.status === 'end' ? new Error('connection closed') : undefined);
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
    this.#detach?.();
    this.#detach = undefined;
    await this.#opening;
    for (const c of this.#connections) clearTimeout(c.watchdog);
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
    const { url } = options;
    this.#connect(options, (settings) => (url === undefined ? new RedisClass(settings) : new RedisClass(url, settings)));
  }

  /** Opens `options.size` connections with `make`, each watched until ready. */
  #connect(options: OwnedPoolOptions, make: (settings: RedisOptions) => Redis): void {
    // A duplicate keeps the caller's connection settings, but never their queueing and retry settings.
    const settings: RedisOptions = options.template
      ? { ...safetySettings(), connectTimeout: defaultConnectTimeout(options.timeout) }
      : { ...ownedConnectionDefaults(options.timeout), ...options.redis };
    const bound = settings.connectTimeout ?? defaultConnectTimeout(options.timeout);
    for (let i = 0; i < options.size; i += 1) {
      const client = make({ ...settings, lazyConnect: true });
      const connection: OwnedConnection = { client, lastError: undefined, stalls: 0, stallError: undefined, watchdog: undefined };
      const settle = (): void => {
        clearTimeout(connection.watchdog);
        connection.watchdog = undefined;
      };
      client.on('error', (error: Error) => {
        connection.lastError = error;
        this.#onChange();
      });
      const lane = new Lane(client as unknown as LaneClient, () => client.status === 'ready');
      // ioredis bounds the TCP connect only: a server (or proxy) that accepts
      // but never answers would hold the connection in `connect` for good.
      client.on('connecting', () => {
        settle();
        connection.watchdog = setTimeout(() => {
          connection.watchdog = undefined;
          if (client.status !== 'connecting' && client.status !== 'connect') return;
          connection.stalls += 1;
          connection.stallError = new Error(`the connection was not ready within ${bound} ms (connectTimeout)`);
          this.#onChange();
          client.disconnect(true);
        }, bound);
        connection.watchdog.unref?.();
      });
      client.on('ready', () => {
        settle();
        connection.lastError = undefined;
        connection.stalls = 0;
        lane.primed = false; // the server may have restarted and lost its scripts
        this.#onReady(lane);
        this.#onChange();
      });
      client.on('close', () => this.#onChange());
      client.on('end', () => {
        settle();
        this.#onChange();
      });
      client.connect().catch(() => undefined);
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
