/**
 * The demo's live view: per second and per tenant, how many requests were
 * allowed and which limit denied the rest, as a table with bars. On a TTY
 * the table is redrawn in place every second; otherwise each finished second
 * is printed once as plain lines.
 */
import type { Tally, TrafficReport } from './traffic.js';

/** Labels of the tenants (e.g. `initech (free)`), by tenant id. */
export type TenantLabels = Readonly<Record<string, string>>;

const BAR_WIDTH = 30;

function bar(t: Tally, scale: number): string {
  const cells = (n: number): number => Math.round((n / scale) * BAR_WIDTH);
  const allowed = Math.min(BAR_WIDTH, cells(t.allowed));
  const denied = Math.max(0, Math.min(BAR_WIDTH - allowed, cells(t.deniedClient + t.deniedTenant)));
  return `${'█'.repeat(allowed)}${'░'.repeat(denied)}`.padEnd(BAR_WIDTH);
}

/** One tenant's line: counts, then the bar. */
export function formatRow(label: string, t: Tally, scale: number): string {
  const workers = Object.keys(t.byWorker).some((w) => w !== 'main') ? `  served by ${Object.entries(t.byWorker).map(([w, n]) => `${w}:${n}`).join(' ')}` : '';
  return `${label.padEnd(16)} ${String(t.allowed).padStart(4)} allowed ${String(t.deniedClient).padStart(4)} denied (client) ${String(t.deniedTenant).padStart(4)} denied (plan)  ${bar(t, scale)}${workers}`;
}

/** Renders a traffic report as it arrives, once per tick. */
export class LiveView {
  readonly #out: NodeJS.WriteStream;
  readonly #labels: TenantLabels;
  readonly #scale: number;
  readonly #tty: boolean;
  #drawn = 0;
  #printed = 0;

  /**
   * @param out - where to draw
   * @param labels - tenant labels, in display order
   * @param scale - requests per second that fill a whole bar
   */
  constructor(out: NodeJS.WriteStream, labels: TenantLabels, scale: number) {
    this.#out = out;
    this.#labels = labels;
    this.#scale = Math.max(1, scale);
    this.#tty = out.isTTY === true;
  }

  /** Draws the report; `done` prints every remaining second. */
  update(report: TrafficReport, elapsedMs: number, done = false): void {
    // Seconds that are over and whose every request has its answer: their counts are final.
    let finished = 0;
    while (finished < report.seconds.length && (done || ((finished + 1) * 1000 <= elapsedMs && report.pending[finished] === 0))) finished += 1;
    const scale = this.#scale;
    if (this.#tty) {
      const lines: string[] = [];
      report.seconds.forEach((second, i) => {
        if (i > finished) return;
        for (const [tenant, label] of Object.entries(this.#labels)) {
          const t = second[tenant];
          if (t) lines.push(`${i === finished && !done ? 'now' : `${i + 1}s`}`.padStart(4) + `  ${formatRow(label, t, scale)}`);
        }
      });
      if (this.#drawn > 0) this.#out.write(`\x1b[${this.#drawn}A`);
      for (const line of lines) this.#out.write(`\x1b[2K${line}\n`);
      this.#drawn = lines.length;
      return;
    }
    for (; this.#printed < finished; this.#printed += 1) {
      const second = report.seconds[this.#printed];
      if (!second) continue;
      for (const [tenant, label] of Object.entries(this.#labels)) {
        const t = second[tenant];
        if (t) this.#out.write(`${`${this.#printed + 1}s`.padStart(4)}  ${formatRow(label, t, scale)}\n`);
      }
    }
  }
}
