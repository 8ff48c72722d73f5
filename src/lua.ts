/**
 * The one script every store call runs, assembled from the package's Lua
 * sources (src/lua-sources.ts: read from `lua/`, embedded by the build): the
 * shared prologue (helpers, the call's arguments, compound checks), one file
 * per kind of limit, and the dispatch loop.
 */
import { LUA_SOURCES } from './lua-sources.js';
import { Script } from './script.js';

/**
 * The kinds' Lua files, in assembly order. A new kind of limit adds its
 * file here (see lua/prologue.lua, "Adding a kind", and src/kinds.ts).
 */
export const KIND_SOURCES: readonly string[] = ['gcra.lua', 'concurrency.lua', 'quota.lua', 'settle.lua'];

/** The text of one file of the package's `lua/` folder. */
export function luaSource(name: string): string {
  const source = LUA_SOURCES[name];
  if (source === undefined) throw new Error(`tollgate: lua/${name} is missing (have: ${Object.keys(LUA_SOURCES).join(', ')})`);
  return source;
}

/** A block a kind asks to have inlined: `--[==[inline:NAME` ... `inline:NAME]==]`, a Lua comment where it stands. */
const INLINE_BLOCK = /^--\[==\[inline:([a-z]+)\n([\s\S]*?)^inline:\1\]==\]\n/gm;

/** A section of the compound machinery, which the lean scripts leave out: `-- @compound begin` ... `-- @compound end`. */
const COMPOUND = /^-- @compound begin\n[\s\S]*?^-- @compound end\n/gm;

/** The one kind file the leases-only script keeps whole. */
const LEASES_SOURCE = 'concurrency.lua';

/** How {@link assembleScript} builds the script (at most one option set). */
export interface AssembleOptions {
  /**
   * Builds the script for calls whose checks are all packed GCRA items (one
   * rate item each, take n or nothing: the common case): the prologue without
   * the compound machinery, and of each kind's file only its inlined blocks.
   * It reads the same arguments and answers the same reply as the full
   * script for such calls, at less work per call; any other check header is
   * unreadable to it.
   */
  readonly packedOnly?: boolean;
  /**
   * Builds the script for calls whose checks are all lone concurrency items
   * (the "C", "R" and "E" encodings: acquires, releases, extends): the
   * prologue and lua/concurrency.lua without their compound sections, and of
   * the other kinds' files only their inlined blocks. Same arguments and
   * replies as the full script for such calls; it answers other headers as
   * unreadable.
   */
  readonly leasesOnly?: boolean;
}

/**
 * Joins prologue, kinds and dispatch into one script. A kind may hold a
 * block for the dispatch loop (its hottest path, kept free of a function
 * call); each `--@inline NAME` line of the loop is replaced by that block,
 * indented as the line was.
 */
export function assembleScript(sources: (name: string) => string = luaSource, options: AssembleOptions = {}): string {
  if (options.packedOnly && options.leasesOnly) throw new Error('tollgate: assembleScript takes packedOnly or leasesOnly, not both');
  const lean = options.packedOnly === true || options.leasesOnly === true;
  const whole = (name: string): boolean => !lean || (options.leasesOnly === true && name === LEASES_SOURCE);
  const blocks = new Map<string, string>();
  const kinds = KIND_SOURCES.map((name) => {
    const text = sources(name).replace(INLINE_BLOCK, (_, block: string, body: string) => {
      blocks.set(block, body);
      return `-- (block "${block}" is inlined into the dispatch loop below)\n`;
    });
    if (!whole(name)) return `-- lua/${name}: only its inlined blocks (${options.packedOnly ? 'packed' : 'leases'}-only script)\n`;
    return lean ? text.replace(COMPOUND, '-- (compound section left out: lean script)\n') : text;
  });
  const dispatch = sources('dispatch.lua').replace(/^( *)--@inline ([a-z]+)\n/gm, (_, indent: string, block: string) => {
    const body = blocks.get(block);
    if (body === undefined) throw new Error(`tollgate: lua/dispatch.lua inlines block "${block}", which no kind defines`);
    blocks.delete(block);
    return body.replace(/^(?=.)/gm, indent);
  });
  if (blocks.size > 0) throw new Error(`tollgate: inline blocks never used: ${[...blocks.keys()].join(', ')}`);
  let prologue = sources('prologue.lua');
  if (lean) {
    if (!prologue.match(COMPOUND)) throw new Error('tollgate: lua/prologue.lua has no "-- @compound begin/end" section');
    prologue = prologue.replace(COMPOUND, '-- (compound machinery left out: lean script)\n');
  }
  return [prologue, ...kinds, dispatch].join('\n');
}

/** The assembled script, with its SHA1, loaded once per process. */
export const limitScript: Script = new Script(assembleScript());

/**
 * The packed-only script (see {@link AssembleOptions.packedOnly}): what the
 * store sends when every check of a call is a packed GCRA item.
 */
export const packedScript: Script = new Script(assembleScript(luaSource, { packedOnly: true }));

/**
 * The leases-only script (see {@link AssembleOptions.leasesOnly}): what the
 * store sends when every check of a call is a lone acquire, release or extend.
 */
export const leaseScript: Script = new Script(assembleScript(luaSource, { leasesOnly: true }));

/** Every script the store may send, in the order a fresh connection loads them. */
export const allScripts: readonly Script[] = [limitScript, packedScript, leaseScript];
