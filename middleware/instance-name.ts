/**
 * Key namespaces of unnamed middlewares: the first one created in a process
 * is `default`, later ones `default-2`, `default-3`, ... in creation order.
 * Each is a key namespace and a double-count guard of its own, so a second,
 * stricter middleware is never mistaken for the first. Processes that build
 * their middlewares in the same order (the same code) agree on the names;
 * give `name` explicitly when they might not.
 */
let created = 0;

/** The key namespace of the next unnamed middleware. */
export function nextDefaultName(): string {
  created += 1;
  return created === 1 ? 'default' : `default-${created}`;
}
