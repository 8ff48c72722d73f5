/**
 * Command-line flags of the benchmark suites: `--name=value` and bare `--name`.
 */

/** The flags of one command line (usually `process.argv.slice(2)`). */
export interface Flags {
  /** The value of `--name=value`, '' for a bare `--name`, undefined when absent. */
  flag(name: string): string | undefined;
  /** `--name=N` as an integer >= 1 (throws on anything else), undefined when absent. */
  intFlag(name: string): number | undefined;
}

/** Reads flags from `args`. */
export function parseFlags(args: readonly string[]): Flags {
  const flag = (name: string): string | undefined => {
    const arg = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    return arg === undefined ? undefined : arg.slice(name.length + 3);
  };
  const intFlag = (name: string): number | undefined => {
    const v = flag(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1, got ${JSON.stringify(v)}`);
    return n;
  };
  return { flag, intFlag };
}
