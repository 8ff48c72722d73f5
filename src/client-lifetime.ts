/**
 * Ties stores to the lifetime of a borrowed ioredis client: a store that
 * works on duplicates of a caller's `Redis` client closes itself when that
 * client ends (`quit()`, `disconnect()`, or its retry strategy giving up), so
 * closing your own client never leaves the store's connections reconnecting
 * in the background and keeping the process alive. One 'end' listener per
 * client serves every store built on it.
 */

/** The part of an ioredis client this module uses. */
interface EndingClient {
  once(event: 'end', listener: () => void): unknown;
}

/** Something that closes itself when its client ends. */
export interface ClientFollower {
  close(): Promise<void>;
}

const followers = new WeakMap<EndingClient, Set<ClientFollower>>();

/** The followers of `client`, with the one 'end' listener that closes them (added on first use). */
function followersOf(client: EndingClient): Set<ClientFollower> {
  const known = followers.get(client);
  if (known !== undefined) return known;
  const members = new Set<ClientFollower>();
  followers.set(client, members);
  client.once('end', () => {
    followers.delete(client);
    for (const member of members) void member.close();
    members.clear();
  });
  return members;
}

/**
 * Closes `follower` when `client` ends; returns a function that stops
 * following (call it from the follower's own close()). Only an end after
 * this call counts (a client may be connected again after it ended).
 */
export function followClientEnd(client: EndingClient, follower: ClientFollower): () => void {
  const members = followersOf(client);
  members.add(follower);
  return () => void members.delete(follower);
}
