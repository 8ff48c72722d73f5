/**
 * The arithmetic of the HTTP CPU benchmark (bench/http-cpu.bench.ts): CPU per
 * request from counters read at the start and end of a measured window, the
 * CPU a limiter adds over the same framework's unlimited server in the same
 * round, and the ratio of what tollgate adds to what its peer adds, per round
 * and as the median over rounds. Pure functions; no I/O.
 */
import { median, ratio } from './stats.js';

/** Cumulative CPU counters read at one moment, µs. */
export interface CpuCounters {
  /** The server process's CPU time (user + system). */
  readonly serverUs: number;
  /** Redis's used_cpu_user + used_cpu_sys. */
  readonly redisUs: number;
}

/** CPU per request over a window, µs. */
export interface CpuPerRequest {
  readonly serverCpuUs: number;
  readonly redisCpuUs: number;
}

/** CPU per request between two readings of the counters, over `requests` requests (NaN without requests). */
export function perRequest(before: CpuCounters, after: CpuCounters, requests: number): CpuPerRequest {
  if (!(requests > 0)) return { serverCpuUs: NaN, redisCpuUs: NaN };
  return { serverCpuUs: (after.serverUs - before.serverUs) / requests, redisCpuUs: (after.redisUs - before.redisUs) / requests };
}

/** One measured server in one round. */
export interface CpuRun extends CpuPerRequest {
  readonly round: number;
  readonly variant: string;
}

/** What a variant adds over the baseline, per round and as medians. */
export interface AddedCost {
  readonly variant: string;
  /** Median CPU per request of the variant itself. */
  readonly serverCpuUs: number;
  readonly redisCpuUs: number;
  /** Median over rounds of (variant − baseline in the same round). */
  readonly addedServerUs: number;
  readonly addedRedisUs: number;
  /** The per-round differences, in round order. */
  readonly addedServerByRound: readonly number[];
  readonly addedRedisByRound: readonly number[];
}

/**
 * CPU added by every variant over `baseline`, each round against the baseline of the same round
 * (a round without a baseline run gives NaN, which medians skip). Redis's own idle work
 * (its timers, the bench's INFO calls) is in the baseline's Redis figure and so is taken out.
 */
export function addedCosts(runs: readonly CpuRun[], baseline: string): AddedCost[] {
  const variants = [...new Set(runs.map((r) => r.variant))];
  const base = (round: number): CpuRun | undefined => runs.find((r) => r.variant === baseline && r.round === round);
  return variants.map((variant) => {
    const own = runs.filter((r) => r.variant === variant).sort((a, b) => a.round - b.round);
    const addedServerByRound = own.map((r) => r.serverCpuUs - (base(r.round)?.serverCpuUs ?? NaN));
    const addedRedisByRound = own.map((r) => r.redisCpuUs - (base(r.round)?.redisCpuUs ?? NaN));
    return {
      variant,
      serverCpuUs: median(own.map((r) => r.serverCpuUs)),
      redisCpuUs: median(own.map((r) => r.redisCpuUs)),
      addedServerUs: median(addedServerByRound),
      addedRedisUs: median(addedRedisByRound),
      addedServerByRound,
      addedRedisByRound,
    };
  });
}

/** The ratio of what `subject` adds to what `reference` adds, per round and its median. */
export interface AddedRatio {
  readonly server: number;
  readonly redis: number;
  readonly serverByRound: readonly number[];
  readonly redisByRound: readonly number[];
}

/**
 * subject's added CPU / reference's added CPU, within each round, then the median over rounds
 * (a round where the reference added nothing measurable, 0 or less, gives NaN).
 */
export function addedRatio(runs: readonly CpuRun[], baseline: string, subject: string, reference: string): AddedRatio {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  const costs = new Map(rounds.map((round) => [round, addedCosts(runs.filter((r) => r.round === round), baseline)]));
  const of = (round: number, variant: string): AddedCost | undefined => costs.get(round)?.find((c) => c.variant === variant);
  const positive = (x: number | undefined): number => (x !== undefined && x > 0 ? x : NaN);
  const serverByRound = rounds.map((round) => ratio(of(round, subject)?.addedServerUs ?? NaN, positive(of(round, reference)?.addedServerUs)));
  const redisByRound = rounds.map((round) => ratio(of(round, subject)?.addedRedisUs ?? NaN, positive(of(round, reference)?.addedRedisUs)));
  return { server: median(serverByRound), redis: median(redisByRound), serverByRound, redisByRound };
}
