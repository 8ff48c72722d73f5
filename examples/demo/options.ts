/**
 * The demo's command line: `--no-traffic`, `--port N`, `--workers N`,
 * `--duration S`, read strictly (an unknown flag or a bad value is an error
 * that says what is allowed).
 */
import { parseArgs } from 'node:util';

/** Parsed demo options. */
export interface DemoOptions {
  /** Skip the simulated traffic and only serve. */
  readonly traffic: boolean;
  /** Port to listen on (0: any free port). */
  readonly port: number;
  /** Server processes (more than 1 needs REDIS_URL). */
  readonly workers: number;
  /** Seconds of simulated traffic. */
  readonly durationMs: number;
}

/** Usage text. */
export const USAGE = 'usage: npm run demo -- [--no-traffic] [--port N] [--workers N (needs REDIS_URL)] [--duration SECONDS]';

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}\n${USAGE}`);
  return n;
}

/** Reads the flags; throws with the usage on anything else. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      'no-traffic': { type: 'boolean' },
      port: { type: 'string' },
      workers: { type: 'string' },
      duration: { type: 'string' },
    },
  });
  return {
    traffic: values['no-traffic'] !== true,
    port: integer('port', values.port, 3000, 0, 65535),
    workers: integer('workers', values.workers, 1, 1, 8),
    durationMs: integer('duration', values.duration, 6, 1, 60) * 1000,
  };
}
