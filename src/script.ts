/**
 * Runs a Lua script by its SHA1 (EVALSHA), computed once on the client, and
 * falls back to EVAL only when the server answers NOSCRIPT (script cache
 * flushed, failover, new node). Any other error is surfaced, never replayed.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, LimiterError } from './errors.js';
import { LUA_SOURCES } from './lua-sources.js';

/** The two commands a script runner needs; ioredis `Redis`, `Cluster` and pipelines fit. */
export interface ScriptClient {
  /** EVALSHA sha numkeys key... arg... */
  evalsha(sha: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** EVAL script numkeys key... arg... */
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * A NOSCRIPT reply, alone or as the last error of an ioredis Cluster call
 * whose redirections and retries ran out (during a failover, the attempt
 * that finally reaches the promoted replica may find its script cache empty).
 */
const NOSCRIPT = /^(?:Too many Cluster redirections\. Last error: ReplyError: )?NOSCRIPT/;

/** True when a Redis error reply is NOSCRIPT (the server does not hold the script, so it did not run it). */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && NOSCRIPT.test(error.message);
}

/**
 * The EVAL fallback every script runner shares: `sent` is an EVALSHA already
 * on its way; if and only if it fails with NOSCRIPT, `noScript` is told (so
 * a runner can reload its scripts) and `evalScript` sends the source once.
 * Any other error is rethrown as it is.
 */
export function orEvalOnNoScript(sent: Promise<unknown>, evalScript: () => Promise<unknown>, noScript?: () => void): Promise<unknown> {
  return sent.catch((error: unknown) => {
    if (!isNoScript(error)) throw error;
    noScript?.();
    return evalScript();
  });
}

/** A Lua script with its SHA1, run with EVALSHA and an EVAL fallback on NOSCRIPT only. */
export class Script {
  /** The script text sent on EVAL. */
  readonly source: string;
  /** Lowercase hex SHA1 of the source, as Redis computes it. */
  readonly sha: string;

  /** @param source - the Lua source */
  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** The script of one `lua/` file (embedded in the built package, read from the folder in the repository). */
  static fromFile(name: string): Script {
    const source = LUA_SOURCES[name];
    if (source === undefined) throw new LimiterError(ErrorCodes.INVALID_OPTION, `Lua script ${JSON.stringify(name)} is not in lua/ (have: ${Object.keys(LUA_SOURCES).join(', ')})`);
    return new Script(source);
  }

  /** Runs the script: EVALSHA first; EVAL once if and only if the reply is NOSCRIPT. */
  async run(client: ScriptClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return orEvalOnNoScript(client.evalsha(this.sha, keys.length, ...keys, ...args), () => client.eval(this.source, keys.length, ...keys, ...args));
  }
}
