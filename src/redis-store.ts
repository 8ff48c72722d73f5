/**
 * RedisStore: checks decided by the Lua script (src/lua.ts) inside Redis,
 * atomically, on the server's clock (or a client clock when `now` is given).
 *
 * Throughput comes from three parts, each in its own module: the connections
 * (pool.ts: the caller's client, or a pool the store owns), in-flight
 * batching with deadlines and bounded waiting (batcher.ts: checks issued
 * while calls are out travel together in one script call), and the local
 * deny cache (deny-cache.ts: checks Redis would certainly deny are answered
 * without a round trip, exactly as Redis would). This file wires them up.
 * With an ioredis Cluster client, each check is tagged with its hash slot
 * (cluster-slot.ts) and the batcher keeps every call within one slot.
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { type BatchMonitor, type BatchOp, Batcher } from './batcher.js';
import { type Admission, type BreakerChange, type BreakerOptions, type BreakerState, CircuitBreaker, markAnswered } from './breaker.js';
import { type Clock, checkClockOption, readClock } from './clock.js';
import { monotonicMicros } from './deadline.js';
import { DenyCache, EXACT_CLOCK, SERVER_CLOCK, type TimeAnchor } from './deny-cache.js';
import { ErrorCodes, LimiterError, describe, toStoreError } from './errors.js';
import { EVICTION_WARNING_CODE, type StoreEvent, type StoreHealth, evictionRisk } from './health.js';
import { isWellFormedKey, malformedKey } from './inputs.js';
import { integerOption, objectOption, optionalObject } from './options.js';
import { type Lane, type LaneClient, Pool } from './pool.js';
import { keySlot } from './cluster-slot.js';
import { decodeBatch, encodeBatch, leasesOnly, packedOnly } from './redis-codec.js';
import { KINDS, isRate, isRateCheck, kindOf } from './kinds.js';
import { allScripts, leaseScript, limitScript, packedScript } from './lua.js';
import { type Script, orEvalOnNoScript } from './script.js';
import { followClientEnd } from './client-lifetime.js';
import { loadWireCommands, sendEvalsha } from './wire-command.js';
import { coalesceClusterWrites } from './write-coalescing.js';
import { type AnyCheck, type AnyOutcome, type Check, type CheckOutcome, type EvaluateOptions, type Store, TYPED_REJECTIONS } from './store.js';
import { type StoreHooks, noopStoreHooks } from './telemetry/hooks.js';

/**
 * The full script (src/lua.ts), run by every call the lean scripts cannot
 * take: calls of packed GCRA items only run `packedScript`, and calls of lone
 * concurrency items only run `leaseScript` (src/lua.ts).
 * The name predates kinds other than GCRA.
 */
export const gcraScript: Script = limitScript;

/** Connection pool options of {@link RedisStore}. */
export interface RedisPoolOptions {
  /** Connections the store opens (from `url`/`redis`, or as duplicates of a `Redis` `client`), 1 to 64. Default 1. With a Cluster `client` it can only be 1. */
  readonly size?: number;
  /**
   * Script calls in flight at once per connection (pipelined; Redis runs one
   * connection's calls in order, so order needs no extra bookkeeping), 1 to 64.
   * Default 3. With a Redis Cluster `client`: calls in flight per master
   * node (each call carries one hash slot), default 64, so a node that stops
   * answering holds at most its own call slots and the others keep theirs.
   */
  readonly pipeline?: number;
  /** Most checks waiting for a free call slot; beyond it a check fails at once with ERR_POOL_TIMEOUT. Default 10,000. */
  readonly maxPending?: number;
  /** Most ms a check waits for a free call slot before failing with ERR_POOL_TIMEOUT. Default: `timeout`. */
  readonly acquireTimeout?: number;
}

/** Batching options of {@link RedisStore}. */
export interface RedisBatchOptions {
  /** Most checks in one script call. Default 128; 1 turns batching off. */
  readonly maxSize?: number;
  /** Most keys (check items) in one script call. Default 1024; a check with more travels alone. */
  readonly maxKeys?: number;
}

/**
 * Local deny cache options of {@link RedisStore}. The cache answers only
 * checks Redis would certainly deny, with Redis's exact answer (on the Redis
 * clock, `retryAfter`/`resetAfter` are never earlier than Redis's). It relies
 * on: each key being checked with one limit; resets going through this store
 * (a reset by another process is not seen until the key has room again); and,
 * with a client clock (`now`), that clock advancing with real time (Redis
 * expires keys on its own clock).
 */
export interface DenyCacheOptions {
  /** Most keys remembered (each key at most MAX_KEY_LENGTH characters, which bounds memory). Default 10,000. */
  readonly maxEntries?: number;
}

/**
 * Circuit breaker options of {@link RedisStore}: after `failures` Redis
 * failures in a row (errors, no connection, deadlines passed) checks are not
 * sent for `openFor` ms but fail at once, so the failure policy answers them;
 * then one probe check goes through (at once when a connection becomes ready
 * again), and its success closes the breaker.
 */
export interface RedisBreakerOptions {
  /** Redis failures in a row that open the breaker, 1 to 1000. Default 3. */
  readonly failures?: number;
  /** ms the breaker stays open before a probe, 0 to 60000. Default 500. */
  readonly openFor?: number;
}

/** Options of {@link RedisStore}: give either `client`, or `url` and/or `redis`. */
export interface RedisStoreOptions {
  /**
   * An ioredis client you own (the store never closes it): a `Redis`, or a
   * `Cluster`. A `Redis` client is the template of the store's connections:
   * the store opens `pool.size` of its own with `client.duplicate()` (your
   * server, credentials, TLS, database and key prefix) and its own queueing,
   * retry and reconnect settings (no offline queue, no resent commands,
   * bounded connect), and closes them on close(), or as soon as your client
   * ends (`quit()`, `disconnect()`): the store is then closed. A `Cluster` is used as it
   * is: every check must keep its keys in one hash slot (else it fails with
   * ERR_CROSS_SLOT before any call), and each script call carries checks of
   * one slot only.
   */
  readonly client?: Redis | Cluster;
  /** A redis:// URL: the store opens and owns `pool.size` connections (closed by close()). */
  readonly url?: string;
  /** ioredis options for the connections the store opens (with or without `url`). */
  readonly redis?: RedisOptions;
  /** Prefix of every Redis key the store writes. Default `"tollgate:"`. */
  readonly prefix?: string;
  /** Client clock in integer µs. Default: the Redis server's `TIME`. */
  readonly now?: Clock;
  /**
   * Deadline of every store call in ms, from the moment it enters the store:
   * a check not answered in time fails with ERR_TIMEOUT and its late answer
   * is ignored. An owned connection still silent after twice this is
   * reconnected. Default 1000.
   */
  readonly timeout?: number;
  /** Connection pool and waiting bounds. */
  readonly pool?: RedisPoolOptions;
  /** Batching bounds. */
  readonly batch?: RedisBatchOptions;
  /** The local deny cache (SPEC section 8); `false` turns it off. On by default. */
  readonly denyCache?: false | DenyCacheOptions;
  /** The circuit breaker; `false` turns it off (every check then tries Redis). On by default. */
  readonly breaker?: false | RedisBreakerOptions;
  /**
   * Called once per event: each breaker state change, and, once on first
   * connect, when Redis's `maxmemory-policy` can evict limiter keys. Default:
   * the eviction warning goes to `process.emitWarning` (code
   * `TOLLGATE_EVICTION_POLICY`); breaker changes are reported as a metric only.
   * Exceptions it throws are ignored.
   */
  readonly onEvent?: (event: StoreEvent) => void;
}

/** Counters describing a store's current load, for diagnostics and benchmarks. */
export interface RedisStoreStats {
  /** Checks waiting for a call slot. */
  readonly pending: number;
  /** Script calls in flight. */
  readonly inFlight: number;
  /** Keys held by the local deny cache (0 when it is off). */
  readonly cached: number;
  /**
   * Checks reported failed, since the store was created, although their
   * script call had been sent and its reply was lost or came after the
   * deadline: Redis may have applied them (taken units; under-granting only).
   * Also the metric `tollgate.store.unconfirmed_checks`.
   */
  readonly unconfirmed: number;
}

/** Messages of ioredis errors for a command whose connection closed before the reply came. */
const LOST_REPLY = /max retries per request|Connection is closed|Command aborted due to connection close/i;

/**
 * Types a failed call: ioredis's own command timeout is a deadline
 * (ERR_TIMEOUT); a connection lost with the call unanswered is ERR_STORE
 * saying the script may have run; anything else ERR_STORE.
 */
function callError(error: unknown): LimiterError {
  if (error instanceof Error && error.message === 'Command timed out') {
    return new LimiterError(ErrorCodes.TIMEOUT, 'Redis did not answer within the connection\'s command timeout', { cause: error });
  }
  if (error instanceof Error && /Stream isn't writeable/.test(error.message)) {
    return new LimiterError(ErrorCodes.STORE, `Redis is unreachable: the connection is not open (the check was not sent): ${error.message}`, { cause: error });
  }
  if (error instanceof Error && LOST_REPLY.test(error.message)) {
    return new LimiterError(
      ErrorCodes.STORE,
      `the connection to Redis was lost before it answered (the check may have been applied in Redis): ${error.message}`,
      { cause: error },
    );
  }
  return toStoreError(error);
}

/** Defaults of {@link RedisStoreOptions}. */
export const REDIS_STORE_DEFAULTS = {
  timeout: 1000,
  poolSize: 1,
  pipeline: 3,
  clusterPipeline: 64,
  clusterMaxCalls: 1024,
  maxPending: 10_000,
  batchMaxSize: 128,
  batchMaxKeys: 1024,
  denyCacheMaxEntries: 10_000,
  breakerFailures: 3,
  breakerOpenFor: 500,
} as const;

interface CheckOp extends BatchOp {
  readonly check: AnyCheck;
}

/**
 * The hash slot shared by every key of a check on a Redis Cluster; throws
 * ERR_CROSS_SLOT when the keys span slots (one script call must stay in one slot).
 */
function checkSlot(prefix: string, keys: readonly string[]): number {
  const slot = keySlot(prefix + (keys[0] as string));
  for (let i = 1; i < keys.length; i += 1) {
    const other = keySlot(prefix + (keys[i] as string));
    if (other !== slot) {
      throw new LimiterError(
        ErrorCodes.CROSS_SLOT,
        `on a Redis Cluster the keys of one check must share a hash slot, got ${JSON.stringify(keys[0])} (slot ${slot}) and ${JSON.stringify(keys[i])} (slot ${other}): give them a common {hash tag}`,
      );
    }
  }
  return slot;
}

/** A store whose decisions are made by Lua scripts running atomically in Redis. */
export class RedisStore implements Store {
  /** evaluate() rejects only with LimiterErrors (see TYPED_REJECTIONS). */
  readonly [TYPED_REJECTIONS] = true as const;
  readonly #prefix: string;
  readonly #clock: Clock | undefined;
  readonly #timeout: number;
  readonly #pool: Pool;
  readonly #batcher: Batcher<CheckOp, AnyOutcome | true>;
  readonly #cache: DenyCache | undefined;
  /** True when `client` is an ioredis Cluster: each call then stays within one hash slot. */
  readonly #cluster: boolean;
  /**
   * One breaker for the whole store (target `redis`); with a Cluster client,
   * none: {@link #nodeBreakers} guard each master alone instead.
   */
  readonly #breaker: CircuitBreaker | undefined;
  /**
   * With a Cluster client: one breaker per master node (target: the node's
   * `host:port`), chosen from a check's slot before admit(), so a failing
   * master sends only its own checks to the failure policy.
   */
  readonly #nodeBreakers = new Map<string, CircuitBreaker>();
  readonly #breakerOptions: BreakerOptions | undefined;
  /** With a Cluster client: the master serving a slot now. */
  readonly #route: ((slot: number) => string) | undefined;
  readonly #onEvent: ((event: StoreEvent) => void) | undefined;
  #evictionChecked = false;
  #hooks: StoreHooks = noopStoreHooks;
  #closing: Promise<void> | undefined;
  #unfollow: (() => void) | undefined;

  /** Creates a store; throws ERR_INVALID_OPTION on a bad option. */
  constructor(options: RedisStoreOptions) {
    const o = objectOption('RedisStore', options);
    if (o.prefix !== undefined && (typeof o.prefix !== 'string' || !isWellFormedKey(o.prefix))) {
      throw invalid('prefix', o.prefix, 'a well-formed Unicode string');
    }
    this.#prefix = (o.prefix as string | undefined) ?? 'tollgate:';
    // Script calls go out pre-encoded once this resolves (src/wire-command.ts); until then, through ioredis's own path.
    void loadWireCommands();
    this.#clock = checkClockOption('RedisStore', o.now);
    const timeout = integerOption('RedisStore', 'timeout', o.timeout, REDIS_STORE_DEFAULTS.timeout, 1);
    this.#timeout = timeout;
    const pool = objectOption('RedisStore "pool"', o.pool);
    const cluster = (o.client as { isCluster?: unknown } | undefined)?.isCluster === true;
    if (cluster && pool.size !== undefined && pool.size !== 1) {
      throw invalid('pool.size', pool.size, '1 or left out with a Cluster "client" (used as it is); "pool.pipeline" sets its calls in flight');
    }
    const size = integerOption('RedisStore', 'pool.size', pool.size, REDIS_STORE_DEFAULTS.poolSize, 1, 64);
    // A cluster client is one lane whose calls go to many nodes, one slot each: it needs more calls in flight.
    const defaultPipeline = cluster ? REDIS_STORE_DEFAULTS.clusterPipeline : REDIS_STORE_DEFAULTS.pipeline;
    const pipeline = integerOption('RedisStore', 'pool.pipeline', pool.pipeline, defaultPipeline, 1, 64);
    const maxPending = integerOption('RedisStore', 'pool.maxPending', pool.maxPending, REDIS_STORE_DEFAULTS.maxPending, 1);
    const acquireTimeout = integerOption('RedisStore', 'pool.acquireTimeout', pool.acquireTimeout, timeout, 0);
    const batch = objectOption('RedisStore "batch"', o.batch);
    const maxSize = integerOption('RedisStore', 'batch.maxSize', batch.maxSize, REDIS_STORE_DEFAULTS.batchMaxSize, 1, 100_000);
    const maxKeys = integerOption('RedisStore', 'batch.maxKeys', batch.maxKeys, REDIS_STORE_DEFAULTS.batchMaxKeys, 1, 1_000_000);
    this.#cache = makeCache(o.denyCache, this.#clock !== undefined);
    const breaker = makeBreaker(o.breaker);
    if (o.onEvent !== undefined && typeof o.onEvent !== 'function') throw invalid('onEvent', o.onEvent, 'a function');
    this.#onEvent = o.onEvent as ((event: StoreEvent) => void) | undefined;
    this.#breakerOptions = breaker;
    this.#breaker = breaker && !cluster ? new CircuitBreaker(breaker, 'redis', this.#breakerChanged) : undefined;
    this.#pool = makePool(o, size, timeout);
    this.#cluster = cluster;
    const connections = this.#pool.owned ? size : 1;
    // On a cluster the one client's calls are budgeted per master node; the overall bound only caps memory.
    const maxInFlight = cluster ? REDIS_STORE_DEFAULTS.clusterMaxCalls : connections * pipeline;
    const limits = { maxInFlight, maxPerLane: cluster ? maxInFlight : pipeline, maxPerRoute: pipeline, maxSize, maxKeys, maxPending, acquireTimeout, timeout };
    const route = cluster ? clusterRouter(o.client as Cluster) : undefined;
    this.#route = route;
    this.#batcher = new Batcher(this.#pool, this.#execute, limits, (lane, ops) => ({
      operation: 'EVALSHA',
      procedure: scriptFor(ops.map((op) => op.check)).sha,
      ...(lane.server.address === undefined ? {} : { serverAddress: lane.server.address }),
      ...(lane.server.port === undefined ? {} : { serverPort: lane.server.port }),
      ...(lane.server.namespace === undefined ? {} : { namespace: lane.server.namespace }),
    }), route, this.#breakerOptions && this.#monitor);
    this.#pool.onChange(() => this.#batcher.dispatch());
    // Connections duplicated from a borrowed client close when that client ends.
    if (this.#pool.owned && o.client !== undefined) this.#unfollow = followClientEnd(o.client as Redis, this);
    this.#pool.onReady((lane) => {
      this.#breaker?.wake();
      for (const nodeBreaker of this.#nodeBreakers.values()) nodeBreaker.wake();
      if (!this.#evictionChecked) {
        this.#evictionChecked = true;
        this.#checkEviction(lane);
      }
    });
  }

  /** The key prefix in use. */
  get prefix(): string {
    return this.#prefix;
  }

  /** Current load: checks waiting, calls in flight, keys in the deny cache. */
  get stats(): RedisStoreStats {
    return { pending: this.#batcher.pending, inFlight: this.#batcher.inFlight, cached: this.#cache?.size ?? 0, unconfirmed: this.#batcher.unconfirmed };
  }

  /**
   * The store's health: `down` while the breaker is open or no connection
   * can serve, `degraded` while it probes, a connection is down or failures
   * were seen since the last success, `ready` otherwise; with the last error.
   * On a cluster, `nodes` gives each master's breaker state, `breaker` the
   * worst of them, and the store is `down` only when every master's breaker
   * is open, `degraded` while any is not closed.
   */
  health(): StoreHealth {
    const lanes = this.#pool.lanes;
    const ready = lanes.filter((lane) => lane.ready).length;
    const failure = this.#pool.failure();
    const nodes = [...this.#nodeBreakers.values()];
    const breaker = this.#breaker ?? latest(nodes);
    const lastError = failure ?? breaker?.lastError;
    const state = this.#breaker?.state ?? worstState(nodes);
    const allOpen = this.#breaker ? state === 'open' : nodes.length > 0 && nodes.every((b) => b.state === 'open');
    const failures = this.#breaker ? this.#breaker.failures : nodes.reduce((n, b) => n + b.failures, 0);
    const status = allOpen || failure !== undefined || (lanes.length > 0 && ready === 0 && failures > 0)
      ? 'down'
      : state !== 'closed' || ready < lanes.length || failures > 0
        ? 'degraded'
        : 'ready';
    return {
      status,
      breaker: state,
      ready,
      connections: lanes.length,
      ...(lastError ? { lastError } : {}),
      ...(breaker ? { since: breaker.since } : {}),
      ...(this.#route ? { nodes: Object.fromEntries([...this.#nodeBreakers].map(([node, b]) => [node, b.state])) } : {}),
    };
  }

  /** The breaker guarding `group` (a cluster slot): its master's, or the store's one. */
  /** Feeds the breakers with how every batcher op ended (a probe's own end is followed by evaluate()). */
  readonly #monitor: BatchMonitor = {
    succeeded: (group) => this.#breakerFor(group)?.success(false),
    failed: (error, group) => this.#breakerFor(group)?.failure(error, false),
  };

  #breakerFor(group: number | undefined): CircuitBreaker | undefined {
    const route = this.#route;
    const options = this.#breakerOptions;
    if (route === undefined || options === undefined || group === undefined) return this.#breaker;
    const node = route(group);
    let breaker = this.#nodeBreakers.get(node);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(options, node || 'redis-cluster', this.#breakerChanged);
      this.#nodeBreakers.set(node, breaker);
    }
    return breaker;
  }

  /** Installs the hooks to call (see src/telemetry/hooks.ts). */
  instrument(hooks: StoreHooks): void {
    this.#hooks = hooks;
    this.#batcher.instrument(hooks);
  }

  /**
   * Evaluates one check: locally when the deny cache knows Redis would deny
   * it, otherwise in Redis, batched with the checks issued while calls are in flight.
   */
  evaluate(check: Check, options?: EvaluateOptions): Promise<CheckOutcome>;
  evaluate(check: AnyCheck, options?: EvaluateOptions): Promise<AnyOutcome>;
  evaluate(check: AnyCheck, options?: EvaluateOptions): Promise<AnyOutcome> {
    let keys: string[];
    let group: number | undefined;
    try {
      keys = checkShape(check);
      if (this.#cluster) group = checkSlot(this.#prefix, keys);
      // A client clock is read (and validated) here too, so a bad clock is never hidden by a store failure.
      const clockNow = this.#clock ? readClock(this.#clock) : undefined;
      const cache = this.#cache;
      if (cache !== undefined && cache.size > 0 && this.#closing === undefined) {
        const hit = cache.answer(check, clockNow ?? monotonicMicros());
        if (hit) {
          this.#hooks.onCacheHit();
          return Promise.resolve(hit);
        }
      }
    } catch (error) {
      return Promise.reject(toStoreError(error));
    }
    const moved = this.#cache === undefined ? undefined : movedBack(check);
    if (moved === undefined) return this.#submit(keys, check, group, options);
    // An adjustment may move a TAT back, which the deny cache assumes never happens:
    // forget the keys, and ignore reports about them until it is done.
    const cache = this.#cache as DenyCache;
    cache.suppress(moved);
    return this.#submit(keys, check, group, options).finally(() => cache.release(moved));
  }

  /** Sends a validated check to Redis through the batcher, past the circuit breaker when there is one. */
  #submit(keys: string[], check: AnyCheck, group: number | undefined, options: EvaluateOptions | undefined): Promise<AnyOutcome> {
    const breaker = this.#breakerFor(group);
    // A breaker hears of every answer and failure from the batcher (no promise per check); only
    // the half-open probe is followed here, to free the probe slot when it settles.
    const admission: Admission = breaker === undefined || this.#closing !== undefined ? 'pass' : breaker.admit();
    if (admission instanceof LimiterError) {
      this.#hooks.onStoreError(admission.code);
      return Promise.reject(admission);
    }
    const pending = this.#batcher.submit({ keys, solo: false, check, group }, options?.signal) as Promise<AnyOutcome>;
    if (admission === 'pass' || breaker === undefined) return pending;
    return pending.then(
      (outcome) => {
        breaker.success(true);
        return outcome;
      },
      (error: unknown) => {
        breaker.failure(error, true);
        throw error;
      },
    );
  }

  /** Deletes the keys' state in Redis (after any check on them issued before), and drops them from the deny cache. */
  async reset(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const list = [...keys];
    this.#cache?.suppress(list);
    try {
      await this.#batcher.submit({ keys: list, solo: true, check: RESET });
    } finally {
      this.#cache?.release(list);
    }
  }

  /**
   * Stops taking checks (those still waiting fail with ERR_CLOSED; those in
   * flight settle) and closes the connections the store opened. A client
   * passed as `client` is left open.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#unfollow?.();
      this.#batcher.close();
      this.#cache?.clear();
      this.#closing = this.#pool.close(this.#timeout);
    }
    return this.#closing;
  }

  readonly #breakerChanged = (change: BreakerChange): void => {
    this.#hooks.onBreakerChange(change.to);
    this.#emit({ type: 'breaker', ...change });
  };

  #emit(event: StoreEvent): void {
    const onEvent = this.#onEvent;
    if (onEvent === undefined) {
      if (event.type === 'eviction-risk') process.emitWarning(event.message, { code: EVICTION_WARNING_CODE });
      return;
    }
    try {
      onEvent(event);
    } catch {
      // a failing hook must not break the store
    }
  }

  /** Warns once when Redis may evict limiter keys under memory pressure (INFO works where CONFIG is renamed away). */
  #checkEviction(lane: Lane): void {
    const info = lane.client.info;
    if (typeof info !== 'function') return;
    info.call(lane.client, 'memory').then(
      (text) => {
        const risk = typeof text === 'string' ? evictionRisk(text) : undefined;
        if (risk) this.#emit(risk);
      },
      () => {
        this.#evictionChecked = false; // try again on the next connect
      },
    );
  }

  readonly #execute = (lane: Lane, ops: readonly CheckOp[]): Promise<(AnyOutcome | true | LimiterError)[]> => {
    if (ops[0]?.check === RESET) {
      // One DEL per key: keys may live in different cluster slots.
      return Promise.all((ops[0] as CheckOp).keys.map((key) => lane.client.del(this.#prefix + key))).then(
        () => [true],
        (error: unknown) => {
          throw callError(error);
        },
      );
    }
    const checks = ops.map((op) => op.check);
    const now = this.#clock ? readClock(this.#clock) : undefined;
    const { keys, args } = encodeBatch(checks, this.#prefix, now);
    const cache = this.#cache;
    const sentAt = cache ? monotonicMicros() : 0;
    return runScript(lane, scriptFor(checks), keys, args).then(
      (reply) => {
        const outcomes = decodeBatch(reply, checks);
        for (const outcome of outcomes) if (outcome instanceof LimiterError) markAnswered(outcome);
        if (cache) this.#remember(cache, checks, outcomes, now, sentAt, monotonicMicros());
        return outcomes;
      },
      (error: unknown) => {
        throw callError(error);
      },
    );
  };

  /** Feeds every TAT Redis reported into the deny cache. */
  #remember(cache: DenyCache, checks: readonly AnyCheck[], outcomes: readonly (AnyOutcome | LimiterError)[], now: number | undefined, sentAt: number, receivedAt: number): void {
    let anchor: TimeAnchor | undefined;
    outcomes.forEach((outcome, i) => {
      if (outcome instanceof LimiterError) return;
      anchor ??= now === undefined ? { serverNow: outcome.now, sentAt, receivedAt } : { serverNow: now, sentAt: now, receivedAt: now };
      const items = (checks[i] as AnyCheck).items;
      outcome.items.forEach((o, j) => {
        const item = items[j];
        // Only rate items are cached (the deny cache answers nothing else).
        if (item === undefined || !isRate(item) || !('tat' in o)) return;
        // In a denied check, a repeated key reports the TAT its earlier item
        // would have written, which was not written: only its first
        // occurrence reports the stored TAT. (In an allowed check every
        // occurrence was written; the last, recorded last, is the stored one.)
        if (!outcome.allowed && j > 0 && items.slice(0, j).some((earlier) => earlier.key === item.key)) return;
        cache.record(item.key, o.tat, item.interval, item.interval * item.burst, anchor as TimeAnchor);
      });
    });
  }
}

/**
 * The script a call of `checks` runs: the packed-only one when every check is
 * a packed GCRA item, the leases-only one when every check is a lone
 * concurrency item, else the full one.
 */
function scriptFor(checks: readonly AnyCheck[]): Script {
  if (packedOnly(checks)) return packedScript;
  return leasesOnly(checks) ? leaseScript : limitScript;
}

/**
 * Runs a script on a lane: EVALSHA, preceded on a fresh connection by
 * SCRIPT LOAD of every script (pipelined, not awaited), so calls keep their
 * order on the connection. EVAL only if the server still answers NOSCRIPT
 * (its script cache was flushed); the lane then loads the scripts again
 * before its next call.
 */
function runScript(lane: Lane, script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  const { client } = lane;
  if (!lane.primed) {
    lane.primed = true;
    // A cluster runs the script on every master: each loads it, over the connection its calls use.
    const targets = client.isCluster === true && client.nodes ? client.nodes('master') : [client];
    for (const target of targets) {
      for (const each of allScripts) {
        target.script('LOAD', each.source).catch(() => {
          lane.primed = false;
        });
      }
    }
  }
  if (client.isCluster === true) coalesceClusterWrites(client);
  const sent = sendEvalsha(client, script.sha, keys, args) ?? client.evalsha(script.sha, keys.length, ...keys, ...args);
  return orEvalOnNoScript(
    sent,
    () => client.eval(script.source, keys.length, ...keys, ...args),
    () => {
      lane.primed = false;
    },
  );
}

const SEVERITY: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** The worst state among breakers (open > half-open > closed); closed when there are none. */
function worstState(breakers: readonly CircuitBreaker[]): BreakerState {
  return breakers.reduce<BreakerState>((worst, b) => (SEVERITY[b.state] > SEVERITY[worst] ? b.state : worst), 'closed');
}

/** The breaker that saw the latest failure (for the health report's last error). */
function latest(breakers: readonly CircuitBreaker[]): CircuitBreaker | undefined {
  let found: CircuitBreaker | undefined;
  for (const b of breakers) if (b.lastError && (found === undefined || b.since > found.since)) found = b;
  return found;
}

/**
 * Routes a hash slot to the master serving it now, as the Cluster client
 * knows it (`host:port`; `''` before the client has loaded the slot map).
 */
function clusterRouter(client: Cluster): (slot: number) => string {
  return (slot) => client.slots[slot]?.[0] ?? '';
}

/** The keys whose TAT a check may move back (rate adjustments), or undefined when none. */
function movedBack(check: AnyCheck): string[] | undefined {
  let keys: string[] | undefined;
  for (const item of check.items) if (item.kind === 'rateAdjust') (keys ??= []).push(item.key);
  return keys;
}

/** Marks a batcher op as a reset (DEL of its keys) rather than a check. */
const RESET: AnyCheck = { mode: 'all', items: [] };

function invalid(name: string, value: unknown, allowed: string): LimiterError {
  return new LimiterError(ErrorCodes.INVALID_OPTION, `RedisStore option "${name}" must be ${allowed}, got ${describe(value)}`);
}

function makeCache(option: unknown, clientClock: boolean): DenyCache | undefined {
  if (option === false) return undefined;
  const o = optionalObject('RedisStore option "denyCache"', option, 'false or an object { maxEntries? }');
  const maxEntries = integerOption('RedisStore', 'denyCache.maxEntries', o.maxEntries, REDIS_STORE_DEFAULTS.denyCacheMaxEntries, 1);
  return new DenyCache(maxEntries, clientClock ? EXACT_CLOCK : SERVER_CLOCK);
}

function makeBreaker(option: unknown): BreakerOptions | undefined {
  if (option === false) return undefined;
  const o = optionalObject('RedisStore option "breaker"', option, 'false or an object { failures?, openFor? }');
  return {
    failures: integerOption('RedisStore', 'breaker.failures', o.failures, REDIS_STORE_DEFAULTS.breakerFailures, 1, 1000),
    openFor: integerOption('RedisStore', 'breaker.openFor', o.openFor, REDIS_STORE_DEFAULTS.breakerOpenFor, 0, 60_000),
  };
}

function makePool(o: Record<string, unknown>, size: number, timeout: number): Pool {
  const { client, url, redis } = o;
  if (client !== undefined) {
    if (url !== undefined || redis !== undefined) {
      throw invalid('client', client, 'given alone: "url" and "redis" configure connections the store opens itself');
    }
    if (typeof client !== 'object' || client === null || typeof (client as LaneClient).evalsha !== 'function') {
      throw invalid('client', client, 'an ioredis client');
    }
    // A standalone ioredis client is duplicated with the store's settings; a Cluster (or another client) is used as it is.
    const template = client as Partial<Redis> & LaneClient;
    if (template.isCluster !== true && typeof template.duplicate === 'function') {
      return Pool.owned({ template: client as Redis, size, timeout });
    }
    return Pool.borrowed(client as LaneClient);
  }
  if (url === undefined && redis === undefined) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, 'RedisStore needs option "client" (an ioredis client) or "url"/"redis" (connections the store opens), got neither');
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw invalid('url', url, 'a redis:// or rediss:// URL');
  }
  if (redis !== undefined && (typeof redis !== 'object' || redis === null || Array.isArray(redis))) {
    throw invalid('redis', redis, 'an object of ioredis options');
  }
  return Pool.owned({ url: url as string | undefined, redis: redis as RedisOptions | undefined, size, timeout });
}

/** Checks what the script cannot survive per slot (an empty check would garble the rest of a batch); returns its keys. */
function checkShape(check: AnyCheck): string[] {
  if (typeof check !== 'object' || check === null || !Array.isArray(check.items) || check.items.length === 0) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `a check needs a non-empty array of items, got ${describe(check?.items)}`);
  }
  if (check.mode !== 'all' && check.mode !== 'atMost') {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, `check.mode must be "all" or "atMost", got ${describe(check.mode)}`);
  }
  const keys: string[] = [];
  for (const item of check.items) {
    if (typeof item !== 'object' || item === null || typeof item.key !== 'string' || item.key.length === 0) {
      throw new LimiterError(ErrorCodes.INVALID_KEY, `check item key must be a non-empty string, got ${describe(item?.key)}`);
    }
    if (!isWellFormedKey(item.key)) throw malformedKey('check item key', item.key);
    if (kindOf(item) === undefined) {
      throw new LimiterError(ErrorCodes.INVALID_OPTION, `check item kind must be one of ${Object.keys(KINDS).map((k) => JSON.stringify(k)).join(', ')}, got ${describe(item.kind)}`);
    }
    keys.push(item.key);
  }
  if (check.mode === 'atMost' && !isRateCheck(check)) {
    throw new LimiterError(ErrorCodes.INVALID_OPTION, 'an "atMost" check takes one rate item, got an item of another kind');
  }
  return keys;
}
