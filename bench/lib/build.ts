/**
 * Compiles tollgate's src/ to plain JavaScript with the project's TypeScript
 * (tsc, no type check) into node_modules/.cache/tollgate-bench/, and loads it.
 *
 * Why: the benchmarks run under tsx, whose transform wraps every function
 * created at run time in a `__name(...)` helper (keepNames). Per-check
 * closures then cost an extra property definition each, which a build (tsc,
 * a bundler, Node's own type stripping) does not have, and which made
 * tollgate's local answers ~35% more expensive than the same code compiled.
 * rate-limiter-flexible is plain JavaScript, so this keeps the comparison fair.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Tollgate from '../../src/index.js';

/** The parts of tollgate's public API the benchmark uses. */
export type TollgateModule = Pick<typeof Tollgate, 'Limiter' | 'RedisStore' | 'LimiterError' | 'ErrorCodes' | 'concurrency' | 'quota'>;

/** A loaded tollgate and how it was obtained. */
export interface LoadedTollgate {
  /** The module. */
  readonly module: TollgateModule;
  /** `compiled` (plain JS from tsc) or `source` (the TypeScript source through tsx). */
  readonly kind: 'compiled' | 'source';
  /** Why the source is used, when it is. */
  readonly note: string;
}

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Compiles src/ into the cache folder and returns the compiled index.js path. */
function compile(): string {
  const out = `${root}node_modules/.cache/tollgate-bench/`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(`${out}lua`, { recursive: true });
  const config = {
    extends: `${root}tsconfig.json`,
    compilerOptions: { noEmit: false, noCheck: true, outDir: out, rootDir: root, declaration: false, sourceMap: false, incremental: false },
    include: [`${root}src`],
  };
  writeFileSync(`${out}tsconfig.json`, JSON.stringify(config));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', `${out}tsconfig.json`], { stdio: 'pipe' });
  // Files the source reads relative to itself at run time.
  for (const f of readdirSync(`${root}lua`)) copyFileSync(`${root}lua/${f}`, `${out}lua/${f}`);
  copyFileSync(`${root}package.json`, `${out}package.json`);
  return `${out}src/index.js`;
}

/**
 * Loads tollgate compiled to JavaScript; with `source` true (or when the
 * build fails) loads the TypeScript source as it is.
 */
export async function loadTollgate(source: boolean): Promise<LoadedTollgate> {
  if (!source) {
    try {
      const module = (await import(pathToFileURL(compile()).href)) as TollgateModule;
      return { module, kind: 'compiled', note: 'compiled to JS by tsc' };
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      const module = await import('../../src/index.js');
      return { module, kind: 'source', note: `TypeScript source through tsx (build failed: ${message})` };
    }
  }
  const module = await import('../../src/index.js');
  return { module, kind: 'source', note: 'TypeScript source through tsx (--source)' };
}
