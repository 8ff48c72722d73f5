/**
 * In-flight batching (SPEC section 9) with bounded waiting and deadlines.
 *
 * Work submitted while the store is idle goes out at once (no timer: a lone
 * check is not delayed); when the replies to the last call(s) answered n
 * ops, the idle store sends once ceil(n / 2) ops wait (the first half of the
 * wave those replies set off; not with routes, see below). Other work waits in a FIFO and is gathered at
 * the end of the current microtask turn: as soon as a call slot is free (at
 * most `maxInFlight` calls in flight, at most `maxPerLane` per connection),
 * the waiting work goes out as ONE call (up to `maxSize` ops and `maxKeys`
 * keys) on the connection with the least work in flight. So a closed loop
 * of callers settles into two waves that Redis and Node take turns on:
 * Redis runs one while Node handles the reply of the other. (Spreading one
 * turn's work over several call slots does not do that: calls sent together
 * reach Redis together and are answered together.)
 *
 * Order: Redis runs the calls of one connection one after another, in the
 * order they were written. So that work on a key is never overtaken by later
 * work on the same key, a key with a call in flight on one connection pins
 * later work on that key to that connection, and work that cannot go out yet
 * blocks later work on its keys from going out before it. Results are thus
 * exactly those of running the ops one by one in submission order (up to the
 * order of ops on disjoint keys, which commute).
 *
 * Bounds: at most `maxPending` ops wait (more fail at once with
 * ERR_POOL_TIMEOUT); an op that waits `acquireTimeout` ms without going out
 * fails with ERR_POOL_TIMEOUT; an op not answered `timeout` ms after it was
 * submitted fails with ERR_TIMEOUT and its late answer is ignored. Two
 * timers serve everything: one for the waiting queue (armed only while work
 * waits) and one for all calls in flight; a call still unanswered after twice
 * the deadline has its connection recycled (owned connections), which frees
 * its slot. A single connection (one lane) needs no pinning at all.
 *
 * Groups: an op may carry a group (a Redis Cluster hash slot); a call then
 * holds ops of one group only, and ops of other groups wait for calls of
 * their own. Ops on one key share their group, so their order is kept.
 *
 * Routes (Redis Cluster): an idle store sends the first op of a wave alone
 * (the second half of a wave is mostly on the keys of the first, and would
 * wait behind it; measured: 16 hot keys at C=64, 1.40x rate-limiter-flexible
 * against 0.89x with the split). With a router, each group maps to a route (the
 * master node serving the slot now) and each route has its own budget of
 * calls in flight (`maxPerRoute`), so calls stuck on one node (dead, failing
 * over) never take the call slots of the others; work whose route is full
 * is not waited behind: it is parked in a list of its node's, sorted by
 * acquire deadline, and goes out from there as soon as a slot of that node
 * frees (while parked, its keys count as busy, so later work on them waits
 * behind it even if their slot moves to another node). And a key with a
 * call in flight holds
 * later work on that key back until that call settles: a cluster client may
 * redirect (MOVED, ASK) or retry a call (a node's connection closed) and
 * send it after calls issued later, so two calls on one key are never out
 * at once. Calls on different keys, even of one slot, still run in parallel.
 */
import { Alarm, monotonicMs } from './deadline.js';
import { ErrorCodes, LimiterError, toStoreError } from './errors.js';
import type { Lane, Pool } from './pool.js';
import { type BatchTarget, type StoreHooks, noopStoreHooks } from './telemetry/hooks.js';
import { type WaitNode, WaitList } from './wait-list.js';

/** One unit of work for the batcher: what it touches and how it travels. */
export interface BatchOp {
  /** The (unprefixed) keys the op reads or writes. */
  readonly keys: readonly string[];
  /** True when the op must travel in a call of its own (e.g. a reset). */
  readonly solo: boolean;
  /**
   * Ops with a group travel only with ops of the same group (a Redis Cluster
   * hash slot: one call must stay within one slot). Ops on the same key always
   * share their group, so skipping other groups never reorders work on a key.
   */
  readonly group?: number;
}

/**
 * Sends `ops` as one call on `lane` and resolves with one result (or
 * LimiterError for that op alone) per op, in order; rejects when the whole
 * call failed.
 */
export type ExecuteBatch<O extends BatchOp, R> = (lane: Lane, ops: readonly O[]) => Promise<readonly (R | LimiterError)[]>;

/** Limits of a {@link Batcher}, all validated by the caller. */
export interface BatcherLimits {
  /** Most calls in flight at once (over all connections). */
  readonly maxInFlight: number;
  /** Most calls in flight at once on one connection. */
  readonly maxPerLane: number;
  /** Most calls in flight at once to one route (with a {@link Router}; default: no bound of its own). */
  readonly maxPerRoute?: number;
  /** Most ops in one call. */
  readonly maxSize: number;
  /** Most keys in one call (an op with more keys than this travels alone). */
  readonly maxKeys: number;
  /** Most ops waiting to go out. */
  readonly maxPending: number;
  /** Most ms an op waits to go out. */
  readonly acquireTimeout: number;
  /** Most ms from submission to answer. */
  readonly timeout: number;
}

/**
 * Told how every op ended (the store's circuit breaker listens here): one
 * call per op, allocating nothing, so the steady state costs no promise per check.
 */
export interface BatchMonitor {
  /** An op of `group` (a Cluster slot, if any) was answered. */
  succeeded(group: number | undefined): void;
  /** An op of `group` failed (not called for aborts). */
  failed(error: LimiterError, group: number | undefined): void;
}

const NO_MONITOR: BatchMonitor = { succeeded: () => undefined, failed: () => undefined };

/** Describes where a call of `ops` on `lane` goes and what it runs, for the batch span (see {@link BatchTarget}). */
export type DescribeTarget<O extends BatchOp = BatchOp> = (lane: Lane, ops: readonly O[]) => BatchTarget | undefined;

/** Where the calls of a group go now (a Redis Cluster slot's master, as `host:port`); see the file header. */
export type Router = (group: number) => string;

const PENDING = 0;
const SENT = 1;
const DONE = 2;

class Job<O extends BatchOp, R> implements WaitNode<Job<O, R>> {
  state = PENDING;
  prev: Job<O, R> | undefined;
  next: Job<O, R> | undefined;
  list: WaitList<Job<O, R>> | undefined;
  cleanup: (() => void) | undefined;
  constructor(
    readonly op: O,
    readonly resolve: (value: R) => void,
    readonly reject: (error: LimiterError) => void,
    readonly acquireBy: number,
    readonly deadline: number,
    readonly context: unknown,
  ) {}
}

/** Work on one key: the connection its calls in flight use, how many there are, and how many ops on it are parked. */
interface Pin {
  lane: Lane;
  count: number;
  parked: number;
}

interface Call<O extends BatchOp, R> {
  readonly lane: Lane;
  /** The route the call went to (with a router and a grouped call). */
  readonly route: string | undefined;
  /** The call's jobs; emptied once it settles (see #settleCall). */
  jobs: Job<O, R>[];
  readonly pinned: boolean;
  /** When the call was sent (monotonic ms). */
  readonly sentAt: number;
  /** Index of the first job that may still be unsettled. */
  cursor: number;
  /** True once the call's connection was recycled for not answering. */
  recycled: boolean;
}

/**
 * Wording of the store's errors for a call whose connection was lost, or
 * that went unanswered, after it was sent (src/redis-store.ts callError and
 * this file): Redis may have applied its checks.
 */
const UNCONFIRMED = /may (?:have been|still be) applied/;

/** True when a failed call's checks may have been applied in Redis (sent, reply lost or late). */
function isUnconfirmed(error: LimiterError): boolean {
  return error.code === ErrorCodes.TIMEOUT || UNCONFIRMED.test(error.message);
}

const NO_CONTEXTS: readonly unknown[] = [];
const noop = (): void => undefined;

/** Gathers submitted ops into calls, bounded in waiting, size and time. */
export class Batcher<O extends BatchOp, R> {
  readonly #pool: Pool;
  readonly #execute: ExecuteBatch<O, R>;
  readonly #limits: BatcherLimits;
  readonly #target: DescribeTarget<O>;
  readonly #route: Router | undefined;
  /** Calls in flight per route. */
  readonly #routeCalls = new Map<string, number>();
  readonly #monitor: BatchMonitor;
  readonly #pins = new Map<string, Pin>();
  /** Waiting ops per group (cluster slot), so gathering a call stops once its group has none left. */
  readonly #groups = new Map<number, number>();
  readonly #pendingAlarm: Alarm;
  readonly #callAlarm: Alarm;
  /** Calls in flight (at most maxInFlight). */
  readonly #calls = new Set<Call<O, R>>();
  #hooks: StoreHooks = noopStoreHooks;
  /** Work waiting, in submission order. */
  readonly #queue = new WaitList<Job<O, R>>();
  /** Work parked per route (its node had no call slot free), each in acquire-deadline order. */
  readonly #parked = new Map<string, WaitList<Job<O, R>>>();
  #pending = 0;
  #inFlight = 0;
  #unconfirmed = 0;
  #scheduled = false;
  #closed = false;
  /** Ops answered since a call last went out. */
  #answered = 0;

  /**
   * Waiting ops that make an idle store send at once: half of those answered
   * since the last call went out (at least 1). With routes (Redis Cluster), 1:
   * work on a key with a call in flight waits for that call, so a second wave
   * on the same keys would only wait behind the first.
   */
  get #idleSplit(): number {
    return this.#answered > 2 && this.#route === undefined ? Math.ceil(this.#answered / 2) : 1;
  }

  /**
   * @param pool - the connections; @param execute - sends one call; @param limits - bounds;
   * @param target - describes a call's destination; @param route - routes groups to nodes (Redis Cluster);
   * @param monitor - told how each op ended
   */
  constructor(
    pool: Pool,
    execute: ExecuteBatch<O, R>,
    limits: BatcherLimits,
    target: DescribeTarget<O> = () => undefined,
    route?: Router,
    monitor: BatchMonitor = NO_MONITOR,
  ) {
    this.#pool = pool;
    this.#target = target;
    this.#route = route;
    this.#monitor = monitor;
    this.#execute = execute;
    this.#limits = limits;
    this.#pendingAlarm = new Alarm(this.#expirePending);
    this.#callAlarm = new Alarm(this.#expireCalls);
  }

  /** Installs the hooks to call (pending gauge, batch spans, errors). */
  instrument(hooks: StoreHooks): void {
    this.#hooks = hooks;
  }

  /** Ops waiting to go out. */
  get pending(): number {
    return this.#pending;
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Queues an op; resolves with its result or rejects with a LimiterError. Never throws. */
  submit(op: O, signal?: AbortSignal): Promise<R> {
    const hooks = this.#hooks;
    let early: LimiterError | undefined;
    if (this.#closed) early = new LimiterError(ErrorCodes.CLOSED, 'the RedisStore is closed');
    else if (this.#pending >= this.#limits.maxPending) {
      const waitingFor = this.#route ? 'a call slot' : 'a Redis connection';
      early = this.#waitError(`${this.#pending} checks are already waiting for ${waitingFor} (pool.maxPending ${this.#limits.maxPending})`);
    } else if (signal?.aborted) early = new LimiterError(ErrorCodes.ABORTED, 'the check was aborted', { cause: signal.reason });
    else early = this.#pool.failure();
    if (early) {
      if (early.code !== ErrorCodes.ABORTED) {
        hooks.onStoreError(early.code);
        this.#monitor.failed(early, op.group);
      }
      return Promise.reject(early);
    }
    const context = hooks === noopStoreHooks ? undefined : hooks.captureContext();
    const now = monotonicMs();
    const { timeout, acquireTimeout } = this.#limits;
    let job!: Job<O, R>;
    const promise = new Promise<R>((resolve, reject) => {
      job = new Job(op, resolve, reject, now + Math.min(acquireTimeout, timeout), now + timeout, context);
    });
    if (signal) {
      const onAbort = (): void => this.#fail(job, new LimiterError(ErrorCodes.ABORTED, 'the check was aborted', { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      job.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.#link(job);
    hooks.onPending(1);
    if (this.#inFlight === 0 && this.#pending >= this.#idleSplit) {
      // Idle: a lone check goes out at once, and so does the first half of a
      // wave of checks (those issued by the replies to a call): Redis runs it
      // while Node issues the other half, which goes out at the end of the turn.
      this.dispatch();
    } else if (!this.#scheduled) {
      // Busy: gather what else is issued in this turn into the same call.
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
    return promise;
  }

  /** Fails every waiting op with ERR_CLOSED and refuses new ones; calls in flight still settle. */
  close(): void {
    this.#closed = true;
    this.#failWaiting(new LimiterError(ErrorCodes.CLOSED, 'the RedisStore was closed before the check was sent'));
    this.#pendingAlarm.cancel();
    if (this.#calls.size === 0) this.#callAlarm.cancel();
  }

  /** Sends waiting work while call slots are free (called on submit, on replies and on pool changes). */
  dispatch(): void {
    if (this.#pending === 0) return;
    const failure = this.#pool.failure();
    if (failure) {
      this.#failWaiting(failure);
      return;
    }
    const { maxInFlight, maxSize } = this.#limits;
    const maxPerRoute = this.#limits.maxPerRoute ?? Infinity;
    while (this.#pending > 0 && this.#inFlight < maxInFlight) {
      // One call per free slot, each as large as allowed (maxSize): calls
      // sent in the same turn reach Redis together and are answered together,
      // so spreading a turn's work over several slots would only add calls.
      // The overlap of Node and Redis comes from waves going out at different
      // moments (see submit), which then stay apart.
      // Parked work first, for the nodes that have a call slot free again.
      let sent = false;
      for (const [route, list] of this.#parked) {
        if (list.head === undefined) this.#parked.delete(route);
        else if ((this.#routeCalls.get(route) ?? 0) < maxPerRoute && this.#sendNext(list, maxSize)) {
          sent = true;
          break;
        }
      }
      if (!sent && !this.#sendNext(this.#queue, maxSize)) break;
    }
    // Work still waiting gets its acquire deadline (armed only now: work that
    // goes out in the same turn never costs a timer).
    const next = this.#earliestAcquire();
    if (next !== undefined) this.#pendingAlarm.arm(next);
  }

  /** The earliest acquire deadline of the waiting work (each list is in deadline order). */
  #earliestAcquire(): number | undefined {
    let at = this.#queue.head?.acquireBy;
    for (const list of this.#parked.values()) {
      const head = list.head;
      if (head !== undefined && (at === undefined || head.acquireBy < at)) at = head.acquireBy;
    }
    return at;
  }

  /** Fails every waiting op (queued or parked) with `error`. */
  #failWaiting(error: LimiterError): void {
    while (this.#queue.head) this.#fail(this.#queue.head, error);
    for (const list of this.#parked.values()) while (list.head) this.#fail(list.head, error);
    this.#parked.clear();
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    this.dispatch();
  };

  /**
   * Gathers one call from the ops waiting in `list` (the queue, or a route's
   * parked ops) and sends it; false when nothing can go out now. Scanning the
   * queue parks ops whose node has no call slot free.
   */
  #sendNext(list: WaitList<Job<O, R>>, maxSize: number): boolean {
    const fromQueue = list === this.#queue;
    const { maxKeys } = this.#limits;
    const route = this.#route;
    const maxPerRoute = this.#limits.maxPerRoute ?? Infinity;
    // Pins: with several connections a key's work stays on one; with routes a key has one call out at most.
    const exclusive = route !== undefined;
    const multi = this.#pool.lanes.length > 1 || exclusive;
    const jobs: Job<O, R>[] = [];
    let lane: Lane | undefined;
    let keys = 0;
    let blocked: Set<string> | undefined;
    let group: number | undefined;
    let scanned = 0;
    const scanLimit = 4 * maxSize + 16;
    for (let job = list.head; job !== undefined && jobs.length < maxSize && scanned < scanLimit; scanned += 1) {
      const next: Job<O, R> | undefined = job.next;
      const op = job.op;
      // This call's slot has no more waiting ops: the rest would only be skipped.
      if (group !== undefined && !this.#groups.has(group)) break;
      if (jobs.length > 0 && !op.solo && op.group !== group) {
        // Another slot: it waits for a call of its own (its keys are disjoint from this call's).
        job = next;
        continue;
      }
      if (jobs.length > 0 && keys + op.keys.length > maxKeys) break;
      let conflict = op.solo && jobs.length > 0;
      let pin: Lane | undefined;
      for (const key of op.keys) {
        if (conflict) break;
        if (blocked?.has(key)) conflict = true;
        else if (multi) {
          const p = this.#pins.get(key);
          if (p) {
            // Exclusive: a call in flight on the key, or (seen from the queue) an op on it parked before this one.
            if (exclusive ? p.count > 0 || (fromQueue && p.parked > 0) : pin !== undefined && pin !== p.lane) conflict = true;
            pin = p.lane;
          }
        }
      }
      if (!conflict && pin !== undefined && !exclusive) {
        if (lane === undefined && pin.ready && pin.calls < this.#limits.maxPerLane) lane = pin;
        else if (pin !== lane) conflict = true;
      }
      if (conflict) {
        // Exclusive, a lone key held by a pin needs no entry: the pin holds later work on it back as well.
        if (!exclusive || op.keys.length > 1 || op.solo || blocked?.has(op.keys[0] as string)) {
          blocked ??= new Set();
          for (const key of op.keys) blocked.add(key);
        }
        job = next;
        continue;
      }
      if (jobs.length === 0 && route !== undefined && op.group !== undefined) {
        const node = route(op.group);
        if ((this.#routeCalls.get(node) ?? 0) >= maxPerRoute) {
          // Its node has no call slot free. From the queue it is parked (once, not counted in the
          // scan limit), so work for other nodes behind a backlog for a stuck one still goes out.
          if (fromQueue) {
            this.#park(job, node);
            scanned -= 1;
          }
          job = next;
          continue;
        }
      }
      lane ??= this.#pool.leastLoaded(this.#limits.maxPerLane);
      if (lane === undefined) return false; // no connection ready yet: wait (bounded by acquireTimeout)
      this.#unlink(job);
      job.state = SENT;
      if (jobs.length === 0) group = op.group;
      jobs.push(job);
      keys += op.keys.length;
      if (op.solo) break;
      job = next;
    }
    if (lane === undefined || jobs.length === 0) return false;
    // Pinned once gathered: pins say which keys have calls in flight, not what this call holds.
    if (multi) for (const j of jobs) this.#pin(j.op.keys, lane);
    const first = (jobs[0] as Job<O, R>).op.group;
    this.#send(lane, jobs, multi, route !== undefined && first !== undefined ? route(first) : undefined);
    return true;
  }

  #send(lane: Lane, jobs: Job<O, R>[], pinned: boolean, route: string | undefined): void {
    const hooks = this.#hooks;
    // Only script calls are batches for telemetry; a solo op (a reset) is not one.
    const settled = (jobs[0] as Job<O, R>).op.solo
      ? noop
      : hooks === noopStoreHooks
        ? hooks.onBatch(jobs.length, NO_CONTEXTS)
        : hooks.onBatch(jobs.length, jobs.map((j) => j.context), this.#target(lane, jobs.map((j) => j.op)));
    const call: Call<O, R> = { lane, route, jobs, pinned, sentAt: monotonicMs(), cursor: 0, recycled: false };
    this.#calls.add(call);
    this.#inFlight += 1;
    this.#answered = 0;
    if (route !== undefined) this.#routeCalls.set(route, (this.#routeCalls.get(route) ?? 0) + 1);
    lane.calls += 1;
    lane.inFlight += jobs.length;
    // One alarm serves every call in flight; it only moves when this deadline is earlier.
    this.#callAlarm.arm((jobs[0] as Job<O, R>).deadline);
    let reply: Promise<readonly (R | LimiterError)[]>;
    try {
      reply = this.#execute(
        lane,
        jobs.map((j) => j.op),
      );
    } catch (error) {
      reply = Promise.reject(error);
    }
    reply.then(
      (results) => {
        this.#settleCall(call, results, undefined);
        settled();
      },
      (error: unknown) => {
        const typed = toStoreError(error);
        this.#settleCall(call, undefined, typed);
        settled(typed);
      },
    );
  }

  #settleCall(call: Call<O, R>, results: readonly (R | LimiterError)[] | undefined, error: LimiterError | undefined): void {
    this.#calls.delete(call); // the call alarm stays armed: idle, it fires once and stops
    if (error) this.#hooks.onStoreError(error.code); // once per failed call, not per check in it
    this.#inFlight -= 1;
    if (call.route !== undefined) {
      const left = (this.#routeCalls.get(call.route) ?? 1) - 1;
      if (left === 0) this.#routeCalls.delete(call.route);
      else this.#routeCalls.set(call.route, left);
    }
    call.lane.calls -= 1;
    call.lane.inFlight -= call.jobs.length;
    this.#answered += call.jobs.length;
    if (call.pinned) for (const job of call.jobs) this.#unpin(job.op.keys);
    let unconfirmed = 0;
    const lost = error !== undefined && isUnconfirmed(error);
    call.jobs.forEach((job, i) => {
      if (job.state === DONE) return; // already timed out or aborted: the late answer is ignored
      const result = error ?? (results ? results[i] : undefined);
      if (result instanceof LimiterError) {
        if (lost) unconfirmed += 1;
        this.#fail(job, result, result !== error);
      } else if (result === undefined) this.#fail(job, new LimiterError(ErrorCodes.STORE, 'the store answered fewer results than checks'));
      else this.#succeed(job, result);
    });
    this.#countUnconfirmed(unconfirmed);
    // A settled call can still be referenced from the old generation until the
    // next full collection (a call in flight during a young collection is
    // promoted, with what points at it). Left in place, its jobs kept their
    // results and what followed them alive across young collections: measured
    // at C=512, from the first full collection on nearly every check's objects
    // were promoted, with 3-4 full collections a second and twice the Node CPU
    // per check. Emptying the jobs alone removed it (which reference keeps a
    // settled call reachable was not pinned down).
    call.jobs = [];
    this.dispatch();
  }

  readonly #expirePending = (): void => {
    const now = monotonicMs();
    for (const list of [this.#queue, ...this.#parked.values()]) {
      while (list.head !== undefined && list.head.acquireBy <= now) {
        this.#fail(list.head, this.#waitError(this.#waitedFor(list.head), list.head));
      }
    }
    const next = this.#earliestAcquire();
    if (next !== undefined) this.#pendingAlarm.arm(next);
  };

  /** Says what `job` waited for until its acquire deadline: a connection, or (with routes) its node's call slots or an earlier call on its keys. */
  #waitedFor(job: Job<O, R>): string {
    const waited = Math.min(this.#limits.acquireTimeout, this.#limits.timeout);
    const route = this.#route;
    if (route === undefined) return `no Redis connection was free within ${waited} ms (pool.acquireTimeout)`;
    const group = job.op.group;
    const node = group === undefined ? undefined : route(group);
    const calls = node === undefined ? 0 : (this.#routeCalls.get(node) ?? 0);
    if (node !== undefined && calls >= (this.#limits.maxPerRoute ?? Infinity)) {
      return `no call slot to Redis Cluster node ${node || '(slot not mapped yet)'} was free within ${waited} ms: its ${calls} calls in flight (pool.pipeline, per node) were unanswered (pool.acquireTimeout)`;
    }
    if (this.#inFlight >= this.#limits.maxInFlight) {
      return `no call slot was free within ${waited} ms: ${this.#inFlight} calls in flight over all nodes (pool.acquireTimeout)`;
    }
    return `the check waited ${waited} ms behind an unanswered call on the same key (pool.acquireTimeout; a key has one call out at a time on a cluster)`;
  }

  /**
   * Fails the checks of calls in flight whose deadline passed. A call still
   * unanswered `2 * timeout` after it was sent has its connection recycled
   * (owned connections only), which fails the call and frees its slot.
   */
  readonly #expireCalls = (): void => {
    const now = monotonicMs();
    const stuckAfter = 2 * this.#limits.timeout;
    let next = Infinity;
    let unconfirmed = 0;
    for (const call of [...this.#calls]) {
      const { jobs } = call;
      for (; call.cursor < jobs.length; call.cursor += 1) {
        const job = jobs[call.cursor] as Job<O, R>;
        if (job.state === DONE) continue;
        if (job.deadline > now) {
          if (job.deadline < next) next = job.deadline;
          break;
        }
        unconfirmed += 1; // its call is out: Redis may still run it
        this.#fail(job, new LimiterError(ErrorCodes.TIMEOUT, `Redis did not answer within ${this.#limits.timeout} ms (timeout)`));
      }
      if (!call.recycled) {
        if (now >= call.sentAt + stuckAfter) this.#recycle(call, now - call.sentAt);
        else if (call.sentAt + stuckAfter < next) next = call.sentAt + stuckAfter;
      }
    }
    this.#countUnconfirmed(unconfirmed);
    if (next !== Infinity) this.#callAlarm.arm(next);
  };

  /** Checks reported failed although their call had been sent (see {@link StoreHooks.onUnconfirmed}), since the start. */
  get unconfirmed(): number {
    return this.#unconfirmed;
  }

  #countUnconfirmed(n: number): void {
    if (n === 0) return;
    this.#unconfirmed += n;
    this.#hooks.onUnconfirmed?.(n);
  }

  /**
   * The error of work that cannot go out, saying why: no connection is ready
   * (ERR_STORE: Redis is unreachable), the calls in flight (with routes: the
   * calls to the node of `job`) have gone unanswered for as long as work may
   * wait (ERR_TIMEOUT: Redis is not answering), or else genuine local
   * back-pressure (ERR_POOL_TIMEOUT).
   */
  #waitError(detail: string, job?: Job<O, R>): LimiterError {
    if (!this.#pool.lanes.some((lane) => lane.ready)) {
      return new LimiterError(ErrorCodes.STORE, `Redis is unreachable: no connection is ready; ${detail}`);
    }
    const span = Math.min(this.#limits.acquireTimeout, this.#limits.timeout);
    const group = job?.op.group;
    const node = this.#route && group !== undefined ? this.#route(group) : undefined;
    let oldest = Infinity;
    for (const call of this.#calls) if ((node === undefined || call.route === node) && call.sentAt < oldest) oldest = call.sentAt;
    const silent = monotonicMs() - oldest;
    if (silent >= span) {
      const who = node === undefined ? 'Redis has' : `Redis Cluster node ${node} has`;
      return new LimiterError(ErrorCodes.TIMEOUT, `${who} not answered the calls in flight for ${Math.round(silent)} ms; ${detail}`);
    }
    return new LimiterError(ErrorCodes.POOL_TIMEOUT, detail);
  }

  /**
   * Recycles the connection of a call that went unanswered for `silentMs`:
   * every check still unsettled on it fails with ERR_TIMEOUT first (Redis did
   * not answer; its script may still run), then the connection is dropped.
   * With routes (a Cluster client, one connection to many nodes, never
   * dropped here) only the calls to the stuck call's node fail: the other
   * nodes answer.
   */
  #recycle(stuck: Call<O, R>, silentMs: number): void {
    const { lane, route } = stuck;
    const error = new LimiterError(
      ErrorCodes.TIMEOUT,
      route === undefined
        ? `Redis did not answer for ${Math.round(silentMs)} ms; the connection is reopened (the check may still be applied in Redis)`
        : `Redis Cluster node ${route} did not answer for ${Math.round(silentMs)} ms (the check may still be applied in Redis)`,
    );
    let unconfirmed = 0;
    for (const call of this.#calls) {
      if (call.lane !== lane || call.route !== route) continue;
      call.recycled = true;
      for (const job of call.jobs) {
        if (job.state === DONE) continue;
        unconfirmed += 1;
        this.#fail(job, error);
      }
    }
    this.#countUnconfirmed(unconfirmed);
    if (route === undefined) this.#pool.recycle(lane);
  }

  #succeed(job: Job<O, R>, value: R): void {
    job.state = DONE;
    job.cleanup?.();
    this.#hooks.onPending(-1);
    this.#monitor.succeeded(job.op.group);
    job.resolve(value);
  }

  /** Rejects a job; `report` says whether this is an error of its own for onStoreError (an abort is not). */
  #fail(job: Job<O, R>, error: LimiterError, report = error.code !== ErrorCodes.ABORTED): void {
    if (job.state === DONE) return;
    if (job.state === PENDING) this.#unlink(job);
    job.state = DONE;
    job.cleanup?.();
    this.#hooks.onPending(-1);
    if (report) this.#hooks.onStoreError(error.code);
    if (error.code !== ErrorCodes.ABORTED) this.#monitor.failed(error, job.op.group);
    job.reject(error);
  }

  #link(job: Job<O, R>): void {
    this.#queue.push(job);
    this.#pending += 1;
    const group = job.op.group;
    if (group !== undefined) this.#groups.set(group, (this.#groups.get(group) ?? 0) + 1);
  }

  #unlink(job: Job<O, R>): void {
    const list = job.list;
    if (list === undefined) return;
    list.remove(job);
    if (list !== this.#queue) this.#unparkKeys(job.op.keys);
    this.#pending -= 1;
    const group = job.op.group;
    if (group !== undefined) {
      const count = (this.#groups.get(group) ?? 1) - 1;
      if (count === 0) this.#groups.delete(group);
      else this.#groups.set(group, count);
    }
    if (this.#pending === 0) this.#pendingAlarm.cancel();
  }

  /** Moves a queued job to the parked list of `route`; its keys count as busy until it leaves. */
  #park(job: Job<O, R>, route: string): void {
    this.#queue.remove(job);
    let list = this.#parked.get(route);
    if (list === undefined) {
      list = new WaitList();
      this.#parked.set(route, list);
    }
    list.insertByDeadline(job);
    for (const key of job.op.keys) {
      const p = this.#pins.get(key);
      if (p) p.parked += 1;
      else this.#pins.set(key, { lane: this.#pool.lanes[0] as Lane, count: 0, parked: 1 });
    }
  }

  #unparkKeys(keys: readonly string[]): void {
    for (const key of keys) {
      const p = this.#pins.get(key);
      if (p && --p.parked === 0 && p.count === 0) this.#pins.delete(key);
    }
  }

  #pin(keys: readonly string[], lane: Lane): void {
    for (const key of keys) {
      const p = this.#pins.get(key);
      if (p === undefined) this.#pins.set(key, { lane, count: 1, parked: 0 });
      else {
        if (p.count === 0) p.lane = lane;
        p.count += 1;
      }
    }
  }

  #unpin(keys: readonly string[]): void {
    for (const key of keys) {
      const p = this.#pins.get(key);
      if (p && --p.count === 0 && p.parked === 0) this.#pins.delete(key);
    }
  }
}
