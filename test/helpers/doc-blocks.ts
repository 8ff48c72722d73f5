/**
 * Doc tests, the extraction half: finds every TypeScript/JavaScript fenced
 * code block in README.md and docs/ and writes each to its own module under
 * scratch/doc-blocks/, where the repository's tsconfig `paths` map `tollgate`
 * to the sources. A block whose info string carries the word `fragment`
 * (```ts fragment) is type-checked but not run.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One extracted code block. */
export interface DocBlock {
  /** Markdown file, relative to the repository root. */
  readonly doc: string;
  /** 1-based line of the block's first code line in the markdown file. */
  readonly line: number;
  /** The language word of the info string. */
  readonly lang: 'ts' | 'js';
  /** Marked `fragment`: type-checked only. */
  readonly fragment: boolean;
  /** The code. */
  readonly code: string;
  /** Where it was written (absolute), once written. */
  file: string;
}

const LANGS: Record<string, 'ts' | 'js'> = { ts: 'ts', typescript: 'ts', js: 'js', javascript: 'js', mjs: 'js' };

/** The markdown files whose code blocks are tested: README.md and every .md under docs/. */
export function docFiles(root: string): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) out.push(path);
    }
  };
  walk('docs');
  return out.sort();
}

/** The TS/JS blocks of one markdown text (fences of three or more backticks). */
export function extractBlocks(doc: string, text: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^(\s*)(`{3,})\s*([\w-]*)(.*)$/.exec(lines[i] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '', word = '', rest = ''] = open;
    const end = lines.findIndex((l, j) => j > i && l.trim().startsWith(fence) && l.trim().replace(/`/g, '') === '');
    const stop = end === -1 ? lines.length : end;
    const lang = LANGS[word.toLowerCase()];
    if (lang) {
      const code = lines.slice(i + 1, stop).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l)).join('\n');
      blocks.push({ doc, line: i + 2, lang, fragment: /\bfragment\b/.test(rest), code, file: '' });
    }
    i = stop;
  }
  return blocks;
}

/**
 * Writes every block as its own module (`export {}` appended so top-level
 * await and local names stay module-scoped) plus a tsconfig that extends the
 * repository's, and returns the blocks with their files.
 */
export function writeBlocks(root: string, outDir: string): DocBlock[] {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const blocks = docFiles(root).flatMap((doc) => extractBlocks(doc, readFileSync(join(root, doc), 'utf8')));
  for (const b of blocks) {
    const base = `${b.doc.replace(/[^\w]+/g, '_')}_L${b.line}`;
    b.file = join(outDir, `${base}.${b.lang === 'ts' ? 'ts' : 'mjs'}`);
    writeFileSync(b.file, `${b.code}\nexport {};\n`);
  }
  const tsconfig = {
    extends: relative(outDir, join(root, 'tsconfig.json')),
    compilerOptions: { allowJs: true, checkJs: true, noEmit: true, noUnusedLocals: false },
    include: ['*.ts', '*.mjs'],
  };
  writeFileSync(join(outDir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  return blocks;
}

/** Maps a tsc diagnostic line (`file(line,col): error ...`) back to the markdown file and line. */
export function locate(blocks: readonly DocBlock[], diagnostic: string): string {
  const m = /^(.*?)\((\d+),(\d+)\)(.*)$/.exec(diagnostic);
  if (!m) return diagnostic;
  const [, file = '', line = '0', col = '0', rest = ''] = m;
  const block = blocks.find((b) => b.file.endsWith(file) || file.endsWith(b.file.split('/').pop() ?? '\0'));
  if (!block) return diagnostic;
  return `${block.doc}:${block.line + Number(line) - 1}:${col}${rest}`;
}

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown text's headings (outside code fences). */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of text.split('\n')) {
    if (/^\s*`{3,}/.test(line)) fence = !fence;
    const m = fence ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (m?.[1]) out.add(slug(m[1]));
  }
  return out;
}

/** Every inline link target of a markdown text (`[text](target)`), outside code fences and code spans. */
export function links(text: string): string[] {
  const out: string[] = [];
  let fence = false;
  for (const line of text.split('\n')) {
    if (/^\s*`{3,}/.test(line)) fence = !fence;
    if (fence) continue;
    for (const m of line.replace(/`[^`]*`/g, '``').matchAll(/\]\(([^)\s]+)\)/g)) if (m[1]) out.push(m[1]);
  }
  return out;
}
