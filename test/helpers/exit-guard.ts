/**
 * Preloaded into every test process (`--import`, see package.json): once a
 * test file's tests have all finished, the process must exit on its own. If
 * something it opened still keeps it alive (a client never closed, a server
 * never stopped, a ref'd timer), it fails the file after a grace period and
 * names what is still open, instead of hanging the suite (and without the
 * runner's --test-force-exit, which can cut a file's last results). The
 * grace period starts when the file's after() hooks start (this hook is
 * registered first), so it also covers their teardown: 30 s by default.
 * TOLLGATE_LEAK_STACKS=1 adds where each leaked timer was created.
 */
import { createHook } from 'node:async_hooks';
import { after } from 'node:test';

const GRACE_MS = Number(process.env.TOLLGATE_EXIT_GRACE_MS ?? 30_000);
const timerStacks = new Map<number, { stack: string; resource: { hasRef?: () => boolean } }>();
if (process.env.TOLLGATE_LEAK_STACKS === '1') {
  createHook({
    init(id, type, _trigger, resource) {
      if (type === 'Timeout') timerStacks.set(id, { stack: new Error().stack?.split('\n').slice(4, 12).join('\n') ?? '', resource: resource as { hasRef?: () => boolean } });
    },
    destroy(id) {
      timerStacks.delete(id);
    },
  }).enable();
}

after(() => {
  const guard = setTimeout(() => {
    const lines = [`test file did not exit ${GRACE_MS} ms after its last test: still open: ${process.getActiveResourcesInfo().join(', ')}`];
    const stacks = new Map<string, number>();
    for (const { stack, resource } of timerStacks.values()) {
      if (resource.hasRef?.() === false) continue;
      stacks.set(stack, (stacks.get(stack) ?? 0) + 1);
    }
    for (const [stack, n] of stacks) lines.push(`${n} timer(s) created at:\n${stack}`);
    process.stderr.write(`${lines.join('\n')}\n`, () => process.exit(1));
  }, GRACE_MS);
  guard.unref();
});
