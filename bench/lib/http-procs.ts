/**
 * The HTTP benchmarks' server processes: the frameworks and variants they
 * compare, starting one server (bench/lib/http-server.ts) in its own process,
 * asking it for its CPU time, checking that a limited variant really limits,
 * and stopping it. Shared by bench/http.bench.ts (saturated throughput) and
 * bench/http-cpu.bench.ts (CPU per request at a fixed offered load).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/**
 * Servers load tollgate compiled (dist/, built here), as users run it; with
 * `source` they load the TypeScript through tsx instead.
 */
export function prepareServerBuild(source: boolean): void {
  if (source) process.env.TOLLGATE_BENCH_SOURCE = '1';
  else execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url))], { stdio: 'ignore' });
}

/** Calls `onLine` with each complete line a child process writes to `stream` (without its newline). */
export function onLines(stream: Readable | null, onLine: (line: string) => void): void {
  let out = '';
  stream?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      onLine(line);
    }
  });
}

/** The two frameworks. */
export type Framework = 'express' | 'fastify';
/** No limiter, a layer that only passes the request on, tollgate (Redis or memory store), or the framework's usual peer. */
export type Variant = 'none' | 'passthrough' | 'tollgate' | 'tollgate-memory' | 'peer';

/** How each server is named in tables. */
export const LABEL: Record<Framework, Record<Variant, string>> = {
  express: {
    none: 'Express, no limiter',
    passthrough: 'Express + a pass-through middleware',
    tollgate: 'Express + tollgate',
    'tollgate-memory': 'Express + tollgate (MemoryStore)',
    peer: 'Express + express-rate-limit/rate-limit-redis',
  },
  fastify: {
    none: 'Fastify, no limiter',
    passthrough: 'Fastify + a pass-through onRequest hook',
    tollgate: 'Fastify + tollgate',
    'tollgate-memory': 'Fastify + tollgate (MemoryStore)',
    peer: 'Fastify + @fastify/rate-limit (ioredis)',
  },
};

const libDir = fileURLToPath(new URL('.', import.meta.url));

/** Spawns `bench/lib/<file>` through tsx with stdout piped (stderr inherited), with `nodeArgs` for Node itself. */
export function nodeScript(file: string, scriptArgs: readonly string[], nodeArgs: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, '--import', 'tsx', `${libDir}${file}`, ...scriptArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** A running server process. */
export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** The server process's CPU time so far (user + system, all threads), µs. */
  cpu(): Promise<number>;
}

/**
 * Starts a server process and resolves once it printed its port. `pool` is tollgate's pool.size, when given;
 * with `profileDir`, the server writes V8 CPU profiles (`--cpu-prof`, one per thread: the largest is the main thread's)
 * into `<profileDir>/<framework>-<variant>-<ms>/` when it exits.
 */
export function startServer(framework: Framework, variant: Variant, redisPort: number, pool?: string, profileDir?: string): Promise<ServerProcess> {
  const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${framework}-${variant}-${Date.now()}`];
  const child = nodeScript('http-server.ts', [framework, variant, String(redisPort), ...(pool === undefined ? [] : [pool])], nodeArgs);
  const waiting: ((us: number) => void)[] = [];
  const cpu = (): Promise<number> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child.kill('SIGUSR2');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${framework}/${variant} server did not start within 20 s`));
    }, 20_000);
    onLines(child.stdout, (line) => {
      const port = /^PORT (\d+)/.exec(line);
      if (port) {
        clearTimeout(timer);
        resolve({ port: Number(port[1]), child, cpu });
      }
      const used = /^CPU (\d+)/.exec(line);
      if (used) waiting.shift()?.(Number(used[1]));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${framework}/${variant} server exited with ${code}`));
    });
  });
}

/** Stops a server (SIGTERM, then SIGKILL after 5 s). */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Makes sure a limited variant really limits (its headers are there), and an unlimited one does not, before measuring it. */
export async function sanityCheck(port: number, framework: Framework, variant: Variant): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-api-key': 'sanity' } });
  await r.arrayBuffer();
  const limited = r.headers.has('ratelimit') || r.headers.has('x-ratelimit-limit') || r.headers.has('ratelimit-limit');
  if (r.status !== 200 || limited !== (variant !== 'none' && variant !== 'passthrough')) {
    throw new Error(`${framework}/${variant}: status ${r.status}, rate-limit headers ${limited ? 'present' : 'absent'}`);
  }
}
