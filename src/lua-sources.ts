/**
 * The Lua sources in the package's `lua/` folder, by file name. From the
 * repository they are read at load time, so an edited script takes effect at
 * once; `npm run build` (scripts/build.mjs) replaces this module in dist/
 * with one that embeds the text, so the published JavaScript reads no file
 * and a bundler needs no asset.
 */
import { readFileSync, readdirSync } from 'node:fs';

const folder = new URL('../lua/', import.meta.url);

/** Every `lua/*.lua` source, keyed by file name (e.g. `gcra.lua`). */
export const LUA_SOURCES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(
    readdirSync(folder)
      .filter((name) => name.endsWith('.lua'))
      .sort()
      .map((name) => [name, readFileSync(new URL(name, folder), 'utf8')]),
  ),
);
