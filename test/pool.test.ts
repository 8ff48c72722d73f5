/**
 * Connections of a RedisStore: a store built from `url` or `redis` options
 * opens and owns `pool.size` connections (closed by close()), spreads its
 * calls over them, recovers when Redis comes back, and reports where calls go;
 * a store built on `client` never closes it. Options are validated. The
 * package loads and works in-process without ioredis installed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { LimiterError, RedisStore, perMinute, resolveLimit } from '../src/index.js';
import type { Check } from '../src/store.js';
import { type BatchTarget, noopStoreHooks } from '../src/telemetry/hooks.js';
import { startRedis, useRedis } from './helpers/redis-server.js';

const limit = resolveLimit(perMinute(1_000_000));
const check = (key: string): Check => ({ mode: 'all', items: [{ key, interval: limit.interval, burst: limit.burst, cost: 1 }] });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Lines of CLIENT LIST for connections named `tollgate`. */
async function tollgateConnections(admin: Redis): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => / name=tollgate /.test(line));
}

describe('connection pool', () => {
  const redis = useRedis();

  it('rejects bad options at once, naming the option', () => {
    const client = redis.client();
    const cases: [unknown, RegExp][] = [
      [{}, /needs option "client".*or "url"\/"redis"/],
      [{ client, url: redis.url }, /"client" must be given alone/],
      [{ client: {} }, /"client" must be an ioredis client/],
      [{ url: 'http://127.0.0.1:1' }, /"url" must be a redis:\/\/ or rediss:\/\/ URL, got "http/],
      [{ url: 42 }, /"url" must be/],
      [{ redis: 'localhost' }, /"redis" must be an object of ioredis options/],
      [{ client, timeout: 0 }, /"timeout" must be an integer >= 1, got 0/],
      [{ url: 'redis://127.0.0.1:1', pool: { size: 0 } }, /"pool.size" must be an integer in \[1, 64\], got 0/],
      [{ client, pool: { pipeline: 0 } }, /"pool.pipeline" must be an integer in \[1, 64\], got 0/],
      [{ client, pool: { maxPending: 0 } }, /"pool.maxPending" must be an integer >= 1/],
      [{ client, pool: { acquireTimeout: -1 } }, /"pool.acquireTimeout" must be an integer >= 0/],
      [{ client, pool: 3 }, /"pool" options must be an object/],
      [{ client, batch: { maxSize: 0 } }, /"batch.maxSize" must be an integer in \[1, 100000\]/],
      [{ client, batch: { maxKeys: 2.5 } }, /"batch.maxKeys" must be an integer/],
      [{ client, prefix: 1 }, /"prefix" must be a well-formed Unicode string/],
      [{ client, prefix: "p\uD800" }, /"prefix" must be a well-formed Unicode string/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => new RedisStore(options as never),
        (e: unknown) => e instanceof LimiterError && e.code === 'ERR_INVALID_OPTION' && message.test(e.message),
        `${JSON.stringify(options, (k, v: unknown) => (k === 'client' ? '<client>' : v))} should be rejected with ${message}`,
      );
    }
  });

  it('a store built from a URL owns pool.size connections, spreads calls over them and closes them', async () => {
    const store = new RedisStore({ url: redis.url, prefix: 'pool:own:', pool: { size: 3, pipeline: 1 }, denyCache: false });
    await store.evaluate(check('warm'));
    assert.equal((await tollgateConnections(redis.shared)).length, 3);
    const monitor = await redis.client().monitor();
    const sources = new Map<string, number>();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'evalsha' && args[3]?.startsWith('pool:own:')) sources.set(source, (sources.get(source) ?? 0) + 1);
    });
    for (let wave = 0; wave < 20; wave += 1) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.evaluate(check(`k${wave}:${i}`))));
    }
    await sleep(50);
    monitor.disconnect();
    assert.ok(sources.size >= 2, `calls came from ${sources.size} connection(s)`);
    await store.close();
    await sleep(50);
    assert.deepEqual(await tollgateConnections(redis.shared), []);
  });

  it('accepts ioredis options instead of a URL', async () => {
    const store = new RedisStore({ redis: { host: '127.0.0.1', port: redis.port, connectionName: 'tollgate' }, pool: { size: 1 } });
    assert.equal((await store.evaluate(check('r'))).allowed, true);
    await store.close();
  });

  it('a store built on a client leaves it open, and reports where its calls go', async () => {
    const client = redis.client();
    const store = new RedisStore({ client, prefix: 'pool:borrow:' });
    const targets: (BatchTarget | undefined)[] = [];
    store.instrument({ ...noopStoreHooks, captureContext: () => 'ctx', onBatch: (_size, contexts, target) => (assert.deepEqual([...new Set(contexts)], ['ctx']), targets.push(target), () => undefined) });
    await store.evaluate(check('b'));
    await store.close();
    assert.equal(await client.ping(), 'PONG');
    assert.equal(targets.length, 1);
    assert.equal(targets[0]?.operation, 'EVALSHA');
    assert.match(targets[0]?.procedure ?? '', /^[0-9a-f]{40}$/);
    assert.equal(targets[0]?.serverAddress, '127.0.0.1');
    assert.equal(targets[0]?.serverPort, redis.port);
    assert.equal(targets[0]?.namespace, '0');
  });

  it('fails fast while Redis is down and recovers by itself when it is back', async () => {
    const other = await startRedis();
    const store = new RedisStore({ url: other.url, timeout: 500, pool: { size: 2 } });
    let restarted: ChildProcess | undefined;
    try {
      await store.evaluate(check('up'));
      await other.stop();
      await assert.rejects(store.evaluate(check('down')), (e: unknown) => e instanceof LimiterError && e.code === 'ERR_STORE');
      restarted = spawn('redis-server', ['--port', String(other.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      let outcome;
      for (let attempt = 0; attempt < 100 && outcome === undefined; attempt += 1) {
        try {
          outcome = await store.evaluate(check('back'));
        } catch (error) {
          assert.ok(error instanceof LimiterError && ['ERR_STORE', 'ERR_POOL_TIMEOUT'].includes(error.code), String(error));
          await sleep(50);
        }
      }
      assert.equal(outcome?.allowed, true, 'the store answers again once Redis is back');
    } finally {
      await store.close();
      if (restarted && restarted.exitCode === null) {
        const exited = new Promise((resolve) => restarted?.once('exit', resolve));
        restarted.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('the package loads and limits in-process without ioredis; a URL store then fails with a typed error', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === 'ioredis' || specifier.startsWith('ioredis/')) throw new Error('Cannot find package ioredis');
      return next(specifier, context);
    }`;
    const script = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
      const { Limiter, RedisStore, perSecond } = await import('./src/index.ts');
      const limiter = new Limiter({ telemetry: false });
      const first = await limiter.allow('k', perSecond(1));
      const second = await limiter.allow('k', perSecond(1));
      const store = new RedisStore({ url: 'redis://127.0.0.1:1' });
      let code = 'none';
      try { await store.evaluate({ mode: 'all', items: [{ key: 'k', interval: 1000, burst: 1, cost: 1 }] }); } catch (e) { code = e.code + ' ' + /ioredis package/.test(e.message); }
      await store.close();
      console.log(JSON.stringify([first.allowed, second.allowed, code]));
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').pop() ?? ''), [true, false, 'ERR_STORE true']);
  });
});
