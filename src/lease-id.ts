/**
 * Lease ids: unique across processes and restarts, and cheap to make.
 *
 * An id is this process's random prefix (96 bits from the system CSPRNG,
 * drawn once, as 16 base64url characters) followed by a counter in base 36.
 * Two processes share a prefix with probability about n² / 2^97 for n
 * processes, so no process removes another's lease by accident; the prefix
 * cannot be guessed from outside, and an id names nothing but its lease.
 * Compared with a v4 UUID per lease (36 characters, a read of the random
 * pool each), an id is about 18 characters and costs one string
 * concatenation: ids travel with every acquire and release and are stored
 * as sorted-set members in Redis, so both sides gain from the shorter form.
 */
import { randomBytes } from 'node:crypto';

let prefix = randomBytes(12).toString('base64url');
let counter = 0;

/** A new lease id, never returned before by this process. */
export function newLeaseId(): string {
  counter += 1;
  if (counter === Number.MAX_SAFE_INTEGER) {
    // Out of counter values (after 2^53 leases): start over under a new prefix.
    prefix = randomBytes(12).toString('base64url');
    counter = 1;
  }
  return prefix + counter.toString(36);
}
