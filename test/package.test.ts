/**
 * The publishable package: `npm run build` compiles to dist/ with the Lua
 * scripts beside it, and the built entry points load and work in plain Node
 * (no TypeScript loader), through the package's own `exports`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { VERSION } from '../src/version.js';

const root = new URL('..', import.meta.url).pathname;

test('src/version.ts matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
});

test('the built package loads in plain Node through its exports and decides checks', () => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
  const program = `
    const { Limiter, perSecond, MemoryStore } = await import('tollgate');
    const express = await import('tollgate/express');
    const fastify = await import('tollgate/fastify');
    const limiter = new Limiter({ store: new MemoryStore() });
    const a = await limiter.allow('k', perSecond(1));
    const b = await limiter.allow('k', perSecond(1));
    console.log(JSON.stringify({ a: a.allowed, b: b.allowed, retry: b.retryAfter, express: typeof express.rateLimit, fastify: typeof fastify.default }));
  `;
  // No --conditions=development and no tsx: this resolves to dist/.
  const env = { ...process.env, NODE_OPTIONS: '' };
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: root, env, encoding: 'utf8' });
  const seen = JSON.parse(out.trim()) as { a: boolean; b: boolean; retry: number; express: string; fastify: string };
  assert.deepEqual({ ...seen, retry: undefined }, { a: true, b: false, retry: undefined, express: 'function', fastify: 'function' });
  // perSecond(1): the second call waits for the rest of the second, minus the few µs between the calls.
  assert.ok(seen.retry > 900 && seen.retry <= 1000, `retryAfter ${seen.retry}`);
});
