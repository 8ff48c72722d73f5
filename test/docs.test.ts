/**
 * Doc tests: every TypeScript/JavaScript code block of README.md and docs/
 * is type-checked with the repository's strict settings (`tollgate` mapped to
 * the sources) and, unless marked ```ts fragment, run as its own process,
 * which must exit 0 by itself within the timeout. Runs see REDIS_URL pointing
 * at this file's harness Redis and PORT=0 (any free port), never a server of
 * the machine.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProgram } from './helpers/child.js';
import { anchors, docFiles, links, locate, slug, writeBlocks } from './helpers/doc-blocks.js';
import { useRedis } from './helpers/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'scratch', 'doc-blocks');
const blocks = writeBlocks(root, outDir);
const RUN_TIMEOUT_MS = 30_000;

test('the docs have code blocks, and the README has runnable ones', () => {
  assert.ok(blocks.length >= 5, `found ${blocks.length} blocks`);
  assert.ok(blocks.filter((b) => b.doc === 'README.md' && !b.fragment).length >= 3, 'runnable README blocks');
});

test('every block type-checks (strict, as the repository)', () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', outDir], { cwd: root, encoding: 'utf8' });
  const errors = r.stdout.split('\n').filter((l) => l.includes('error TS')).map((l) => locate(blocks, l.replace(/^scratch\/doc-blocks\//, '')));
  assert.deepEqual(errors, [], `type errors in the docs:\n${errors.join('\n')}`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('every link resolves in the published package, or is an absolute URL', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
  const published = ['package.json', 'README.md', 'LICENSE', ...pkg.files];
  const bad: string[] = [];
  for (const doc of docFiles(root)) {
    const text = readFileSync(join(root, doc), 'utf8');
    for (const target of links(text)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [path = '', anchor] = target.split('#');
      const file = path === '' ? doc : normalize(join(dirname(doc), path)).replace(/\/$/, '');
      if (!existsSync(join(root, file))) bad.push(`${doc}: ${target} (no such file)`);
      else if (!published.some((p) => file === p || file.startsWith(`${p}/`))) bad.push(`${doc}: ${target} (not in the package's files)`);
      else if (anchor && file.endsWith('.md') && !anchors(readFileSync(join(root, file), 'utf8')).has(anchor)) bad.push(`${doc}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the README\'s contents list every section after it', () => {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const contents = /^## Contents\n([\s\S]*?)\n## /m.exec(text)?.[1] ?? '';
  const listed = new Set(links(contents).map((l) => l.replace(/^#/, '')));
  const after = text.slice(text.indexOf('## Contents'));
  const sections = [...after.matchAll(/^## (.+)$/gm)].map((m) => slug(m[1] ?? '')).filter((a) => a !== 'contents' && a !== 'license');
  assert.ok(sections.length >= 8);
  assert.deepEqual(sections.filter((a) => !listed.has(a)), [], 'sections missing from ## Contents');
});

test('a runnable block that talks to Redis takes its address from REDIS_URL (never the machine\'s 6379)', () => {
  const unsafe = blocks.filter((b) => !b.fragment && /RedisStore|ioredis|new Redis\b|new Cluster\b/.test(b.code) && !b.code.includes('process.env.REDIS_URL'));
  assert.deepEqual(unsafe.map((b) => `${b.doc}:${b.line}`), []);
  assert.ok(blocks.some((b) => !b.fragment && b.code.includes('process.env.REDIS_URL')), 'at least one block runs on the harness Redis');
});

describe('every block not marked fragment runs and exits by itself', () => {
  const redis = useRedis();
  for (const block of blocks.filter((b) => !b.fragment)) {
    test(`${block.doc}:${block.line}`, async () => {
      const r = runProgram(block.file, [], { REDIS_URL: redis.url, PORT: '0' }, RUN_TIMEOUT_MS);
      const code = await r.exited;
      assert.notEqual(code, null, `killed after ${RUN_TIMEOUT_MS} ms (did it close its store or server?)\n${r.output()}`);
      assert.equal(code, 0, `exit ${code}\n${r.output()}`);
    });
  }
});
