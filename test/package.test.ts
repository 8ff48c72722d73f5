/**
 * The published package, tested as users get it: `npm pack` (which builds
 * dist/), then the tarball installed into scratch projects offline, from the
 * local npm cache (a lockfile made from this repository's, so npm needs no
 * registry metadata), and used there by plain Node (ESM import and require()),
 * by tsc under the nodenext, bundler and node10 resolutions (a deliberate type
 * error must be caught) and by an esbuild bundle that runs, on its own, against
 * a real Redis.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { VERSION } from '../src/version.js';
import { useRedis } from './helpers/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  exports: Record<string, unknown>;
};

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  [field: string]: unknown;
}

/** Runs a command, returning its output; on failure the assertion shows stdout and stderr. */
function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Every value a conditional `exports` entry can resolve to. */
function targets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry];
  if (entry && typeof entry === 'object') return Object.values(entry).flatMap(targets);
  return [];
}

/** Lock entries of tollgate's runtime dependencies and theirs, copied from this repository's lockfile. */
function dependencyClosure(): Record<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const out: Record<string, LockEntry> = {};
  const pending = Object.keys(pkg.dependencies);
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    const path = `node_modules/${name}`;
    if (out[path]) continue;
    const entry = lock.packages[path];
    assert.ok(entry, `${name} is not at the top of package-lock.json`);
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...rest } = entry;
    out[path] = rest;
    pending.push(...Object.keys(entry.dependencies ?? {}));
  }
  return out;
}

let work = '';
let tarball = '';
let app = '';
let files: { path: string; size: number }[] = [];

before(() => {
  work = mkdtempSync(join(tmpdir(), 'tollgate-pack-'));
  // What prepack does (`npm run build`), then the pack itself; --json lists what went in.
  run(process.execPath, ['scripts/build.mjs'], root);
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root)) as [{ filename: string; files: { path: string; size: number }[] }];
  assert.ok(packed);
  tarball = join(work, packed.filename);
  files = packed.files;

  app = join(work, 'app');
  mkdirSync(app);
  const spec = `file:../${packed.filename}`;
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const manifest = { name: 'scratch-app', version: '1.0.0', private: true, type: 'module', dependencies: { tollgate: spec } };
  const lock = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies },
      'node_modules/tollgate': { version: pkg.version, resolved: spec, integrity, license: 'MIT', dependencies: pkg.dependencies },
      ...dependencyClosure(),
    },
  };
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lock, null, 2));
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
  // The optional peers a user adds for the adapters and Redis (and their types), from this repository.
  for (const peer of ['ioredis', 'express', 'fastify', '@types/express', '@types/node']) {
    mkdirSync(join(app, 'node_modules', peer, '..'), { recursive: true });
    symlinkSync(join(root, 'node_modules', peer), join(app, 'node_modules', peer));
  }
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('src/version.ts matches package.json', () => {
  assert.equal(VERSION, pkg.version);
});

test('the tarball holds the built JavaScript and declarations, lua/ once, and README, CHANGELOG, LICENSE', () => {
  const paths = files.map((f) => f.path);
  for (const wanted of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/middleware/express.js', 'dist/middleware/fastify.d.ts', 'lua/gcra.lua']) {
    assert.ok(paths.includes(wanted), `${wanted} missing from ${paths.join(', ')}`);
  }
  const lua = readdirSync(join(root, 'lua')).filter((name) => name.endsWith('.lua')).sort();
  assert.deepEqual(paths.filter((p) => p.endsWith('.lua')), lua.map((name) => `lua/${name}`));
  assert.deepEqual(paths.filter((p) => /\.(c|m)?ts$/.test(p) && !p.endsWith('.d.ts')), [], 'no TypeScript sources');
  const embedded = readFileSync(join(app, 'node_modules/tollgate/dist/src/lua-sources.js'), 'utf8');
  assert.doesNotMatch(embedded, /readFileSync|import\.meta/);
  for (const name of lua) assert.ok(embedded.includes(JSON.stringify(readFileSync(join(root, 'lua', name), 'utf8'))), `${name} embedded verbatim`);
});

test('no condition in the published exports resolves to TypeScript sources', () => {
  const published = JSON.parse(readFileSync(join(app, 'node_modules/tollgate/package.json'), 'utf8')) as typeof pkg & Record<string, unknown>;
  const all = targets(published.exports);
  assert.ok(all.length >= 6);
  for (const t of all) assert.ok(t.endsWith('.js') || t.endsWith('.d.ts') || t.endsWith('.json'), `export target ${t}`);
  for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'engines']) assert.ok(published[field], `${field} in package.json`);
});

test('ESM import under plain node', () => {
  const program = `
    import { Limiter, MemoryStore, perSecond } from 'tollgate';
    import { rateLimit } from 'tollgate/express';
    import tollgate from 'tollgate/fastify';
    const store = new MemoryStore();
    const limiter = new Limiter({ store });
    const a = await limiter.allow('k', perSecond(1));
    const b = await limiter.allow('k', perSecond(1));
    await store.close();
    console.log(JSON.stringify([a.allowed, b.allowed, b.retryAfter > 0, typeof rateLimit, typeof tollgate]));
  `;
  writeFileSync(join(app, 'esm.mjs'), program);
  assert.deepEqual(JSON.parse(run(process.execPath, ['esm.mjs'], app)), [true, false, true, 'function', 'function']);
});

test('require() of the three entry points (Node\'s require of ES modules)', () => {
  const program = `
    const { Limiter, perSecond } = require('tollgate');
    const { rateLimit, ipKey } = require('tollgate/express');
    const fastify = require('tollgate/fastify');
    const limiter = new Limiter();
    limiter.allow('k', perSecond(1)).then((r) => {
      console.log(JSON.stringify([r.allowed, typeof rateLimit, typeof ipKey, typeof fastify.default]));
    });
  `;
  writeFileSync(join(app, 'cjs.cjs'), program);
  const r = spawnSync(process.execPath, ['cjs.cjs'], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [true, 'function', 'function', 'function']);
  assert.doesNotMatch(r.stderr, /ExperimentalWarning/, 'no warning on the Node versions engines names');
});

describe('types resolve under nodenext, bundler and node10', () => {
  const source = `
    import { Limiter, MemoryStore, perSecond, type LimitResult } from 'tollgate';
    import { rateLimit, ipKey } from 'tollgate/express';
    import tollgate from 'tollgate/fastify';
    const limiter = new Limiter({ store: new MemoryStore() });
    export async function check(id: string): Promise<LimitResult> {
      return limiter.allow(\`user:\${id}\`, perSecond(10));
    }
    export const middleware = rateLimit({ limit: perSecond(5), key: ipKey() });
    export const plugin = tollgate;
    // The deliberate error: retryAfter is a number.
    export const wrong: string = (await check('a')).retryAfter;
  `;
  const resolutions = {
    nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
    node10: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
  };
  for (const [name, options] of Object.entries(resolutions)) {
    test(name, () => {
      const dir = join(app, `tsc-${name}`);
      mkdirSync(dir, { recursive: true });
      // node10 compiles to CommonJS, where top-level await is not allowed: wrap it there.
      const text = name === 'node10' ? source.replace('export const wrong: string = (await check(\'a\')).retryAfter;', 'export async function wrong(): Promise<string> { return (await check(\'a\')).retryAfter; }') : source;
      writeFileSync(join(dir, 'app.ts'), text);
      const tsconfig = { compilerOptions: { ...options, target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['app.ts'] };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
      // With skipLibCheck, a declaration that failed to resolve would turn into `any` silently:
      // the deliberate error on a result field is what proves the types arrived.
      const errors = r.stdout.split('\n').filter((l) => l.includes('error TS'));
      assert.equal(errors.length, 1, `exactly the deliberate error, got:\n${r.stdout}${r.stderr}`);
      assert.match(errors[0] ?? '', /app\.ts\(1[23],\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    });
  }
});

describe('an esbuild bundle of an app using tollgate runs on its own', () => {
  const redis = useRedis();
  test('bundled with ioredis, moved away from node_modules, it decides checks in Redis and in-process', async () => {
    const entry = `
      import { Limiter, MemoryStore, RedisStore, perSecond } from 'tollgate';
      const url = process.argv[2];
      const redis = new RedisStore({ url, prefix: 'bundle:' });
      const memory = new MemoryStore();
      const out = [];
      for (const store of [redis, memory]) {
        const limiter = new Limiter({ store });
        const a = await limiter.allow('k', perSecond(1));
        const b = await limiter.allow('k', perSecond(1));
        out.push(a.allowed, b.allowed);
        await store.close();
      }
      console.log(JSON.stringify(out));
    `;
    writeFileSync(join(app, 'bundle-entry.mjs'), entry);
    await build({ entryPoints: [join(app, 'bundle-entry.mjs')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: join(app, 'out/bundle.mjs'), logLevel: 'silent', banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
    const alone = join(work, 'alone');
    mkdirSync(alone);
    cpSync(join(app, 'out/bundle.mjs'), join(alone, 'bundle.mjs'));
    assert.deepEqual(JSON.parse(run(process.execPath, ['bundle.mjs', redis.url], alone)), [true, false, true, false]);
    assert.equal(await redis.shared.exists('bundle:k'), 1, 'the Redis check wrote its key');
  });
});
