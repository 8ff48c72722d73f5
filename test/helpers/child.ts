/**
 * Test harness for programs run as users run them: a TypeScript file started
 * under tsx from the repository root (REDIS_URL cleared unless given), its
 * output collected, waited on by pattern, stopped with SIGINT; and a sum over
 * the samples of a Prometheus scrape.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A running program. */
export interface RunningProgram {
  /** The process. */
  readonly child: ChildProcess;
  /** Its exit code, once it exits (killed after `limitMs`). */
  readonly exited: Promise<number | null>;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects if the program exits or `ms` pass first. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Sends SIGINT (Ctrl-C) and resolves with the exit code (SIGKILL after 10 s). */
  interrupt(): Promise<number | null>;
}

/** Starts `node --import tsx <file> ...args` in the repository root; killed after `limitMs` whatever happens. */
export function runProgram(file: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}, limitMs = 120_000): RunningProgram {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '', REDIS_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(limit);
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    output: () => out,
    async waitFor(pattern, ms = 60_000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = pattern.exec(out);
        if (m) return m;
        if (child.exitCode !== null || Date.now() > end) throw new Error(`output never matched ${pattern} (exit ${child.exitCode}):\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async interrupt() {
      if (child.exitCode === null) child.kill('SIGINT');
      const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(hard);
      return code;
    },
  };
}

/** Sums the samples of a Prometheus metric whose label set contains `match`. */
export function sumSamples(text: string, metric: string, match: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${metric}{`) && l.includes(match))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
