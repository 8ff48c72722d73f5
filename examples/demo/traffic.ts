/**
 * The demo's simulated clients: every API key of both tenants sends requests
 * at its own steady rate for a few seconds (bounded in count and time), and
 * each answer is tallied in the second its request was sent, per tenant, with
 * the limit that denied it. Keeps one allowed response's rate-limit headers and one 429 body.
 */
import { TENANTS } from './plans.js';

/** One simulated client: an API key and its request rate. */
export interface SimulatedClient {
  /** The tenant it belongs to. */
  readonly tenant: string;
  /** Its API key. */
  readonly apiKey: string;
  /** Requests per second it sends. */
  readonly perSecond: number;
}

/** Counts of one tenant in one second (or in total). */
export interface Tally {
  /** Requests sent. */
  sent: number;
  /** 2xx answers. */
  allowed: number;
  /** 429s that the per-client limit caused (alone). */
  deniedClient: number;
  /** 429s that the tenant's plan caused. */
  deniedTenant: number;
  /** Answers by the process that gave them (`x-demo-worker`). */
  byWorker: Record<string, number>;
}

/** What a traffic run saw. */
export interface TrafficReport {
  /** Per second (index 0 = the first second), per tenant. */
  readonly seconds: Record<string, Tally>[];
  /** Per second, requests sent in it that have no answer yet. */
  readonly pending: number[];
  /** Per tenant, the whole run. */
  readonly totals: Record<string, Tally>;
  /** Headers of one allowed response that carried both limits. */
  readonly sampleHeaders: Record<string, string>;
  /** The body of one 429 answer. */
  sampleDenial: unknown;
}

/** The demo's default clients: a free tenant over its plan, a pro tenant with one greedy client. */
export function defaultClients(): SimulatedClient[] {
  const [free, pro] = TENANTS;
  if (!free || !pro) throw new Error('the demo needs two tenants');
  return [
    ...free.apiKeys.map((apiKey) => ({ tenant: free.id, apiKey, perSecond: 6 })),
    ...pro.apiKeys.map((apiKey, i) => ({ tenant: pro.id, apiKey, perSecond: i === 0 ? 15 : 6 })),
  ];
}

/** A zeroed tally. */
export function emptyTally(): Tally {
  return { sent: 0, allowed: 0, deniedClient: 0, deniedTenant: 0, byWorker: {} };
}

interface ViolatedBody {
  violatedPolicies?: { name?: string }[];
}

/**
 * Sends the traffic and resolves once every answer is in. `onTick` runs once
 * a second (and at the end) with the report so far, for a live view.
 */
export async function runTraffic(
  baseUrl: string,
  clients: readonly SimulatedClient[],
  durationMs: number,
  onTick: (report: TrafficReport, elapsedMs: number) => void,
  freshConnections = false,
): Promise<TrafficReport> {
  const tenants = [...new Set(clients.map((c) => c.tenant))];
  const slots = Math.ceil(durationMs / 1000);
  const perTenant = (): Record<string, Tally> => Object.fromEntries(tenants.map((t) => [t, emptyTally()]));
  const report: TrafficReport = { seconds: Array.from({ length: slots }, perTenant), pending: Array.from({ length: slots }, () => 0), totals: perTenant(), sampleHeaders: {}, sampleDenial: undefined };
  const start = performance.now();
  const ticker = setInterval(() => onTick(report, performance.now() - start), 1000);

  const send = async (client: SimulatedClient, at: number): Promise<void> => {
    const slot = Math.min(slots - 1, Math.floor(at / 1000));
    report.pending[slot] = (report.pending[slot] ?? 0) + 1;
    // A fresh connection per request lets the cluster module spread requests over the workers.
    const headers: Record<string, string> = { 'x-api-key': client.apiKey, ...(freshConnections ? { connection: 'close' } : {}) };
    const res = await fetch(`${baseUrl}/`, { headers });
    const body = (await res.json()) as ViolatedBody;
    report.pending[slot] = (report.pending[slot] ?? 1) - 1;
    const worker = res.headers.get('x-demo-worker') ?? '?';
    for (const t of [report.seconds[slot]?.[client.tenant], report.totals[client.tenant]]) {
      if (!t) continue;
      t.sent += 1;
      t.byWorker[worker] = (t.byWorker[worker] ?? 0) + 1;
      if (res.status === 429) {
        const names = (body.violatedPolicies ?? []).map((v) => v.name);
        if (names.includes('tenant')) t.deniedTenant += 1;
        else t.deniedClient += 1;
      } else if (res.ok) t.allowed += 1;
    }
    if (res.status === 429) report.sampleDenial ??= body;
    else if (res.ok && Object.keys(report.sampleHeaders).length === 0) {
      for (const name of ['ratelimit-policy', 'ratelimit']) report.sampleHeaders[name] = res.headers.get(name) ?? '';
    }
  };

  // Every client's requests, evenly spaced, each client starting at its own offset.
  const sends: Promise<void>[] = [];
  const timers: NodeJS.Timeout[] = [];
  clients.forEach((client, c) => {
    const gap = 1000 / client.perSecond;
    const count = Math.floor((durationMs / 1000) * client.perSecond);
    const offset = (gap * c) / clients.length;
    for (let i = 0; i < count; i += 1) {
      const at = offset + i * gap;
      sends.push(new Promise((resolve, reject) => timers.push(setTimeout(() => send(client, at).then(resolve, reject), at))));
    }
  });
  try {
    await Promise.all(sends);
  } finally {
    clearInterval(ticker);
    for (const t of timers) clearTimeout(t);
  }
  onTick(report, performance.now() - start);
  return report;
}
