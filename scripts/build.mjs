// Builds the publishable package: compiles src/ and middleware/ to dist/ with
// declarations (tsconfig.build.json) and copies the Lua scripts beside them,
// where dist/src/script.js looks for them (../lua/).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url);
const out = new URL('dist/', root);
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', new URL('tsconfig.build.json', root).pathname], { stdio: 'inherit' });
cpSync(new URL('lua/', root), new URL('lua/', out), { recursive: true });
console.log('built dist/');
