/**
 * Test helper: runs one of tollgate's scripts and answers its reply, or the
 * text of the error it raised, so that tests can compare two scripts' answers
 * (a lean script against the full one) with one assertion.
 */
import type { Redis } from 'ioredis';
import type { Script } from '../../src/script.js';

/** The reply of `script` on `client` for KEYS `keys` and ARGV `args`, or `String(error)` when the call failed. */
export async function scriptReply(client: Redis, script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await script.run(client, keys, args);
  } catch (error) {
    return String(error);
  }
}
