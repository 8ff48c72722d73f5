/**
 * Test helper for child processes that take part in a test: a TypeScript
 * worker started under tsx that prints "ready", is told "go" on stdin, and
 * reports one JSON line; and a deadline around any promise.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A spawned worker: `ready` once it printed "ready", `report` its first JSON line, `next()` each later one. */
export interface Worker<R> {
  readonly child: ChildProcessWithoutNullStreams;
  readonly ready: Promise<void>;
  readonly report: Promise<R>;
  /** The JSON lines after the first, one per call, in order. */
  next(): Promise<R>;
}

/** Starts `node --import tsx <file> ...args`; `report` rejects (with its stderr) if it exits before printing a JSON line. */
export function startWorker<R>(file: string, args: readonly string[]): Worker<R> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const reports: R[] = [];
  const waiting: ((report: R) => void)[] = [];
  lines.on('line', (line) => {
    if (line === 'ready') onReady();
    else if (line.startsWith('{')) {
      const parsed = JSON.parse(line) as R;
      const take = waiting.shift();
      if (take) take(parsed);
      else reports.push(parsed);
    }
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting: ${stderr}`))));
  exited.catch(() => undefined);
  const next = (): Promise<R> => {
    const queued = reports.shift();
    return queued !== undefined ? Promise.resolve(queued) : Promise.race([new Promise<R>((resolve) => waiting.push(resolve)), exited]);
  };
  const report = next();
  return { child, ready: Promise.race([ready, report.then(() => undefined)]), report, next };
}

/** `promise`, or a rejection naming `what` once `ms` pass first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
  ]);
}
