/**
 * Telemetry of the Limiter on a RedisStore over real redis-server processes
 * started by the harness, with a real OpenTelemetry SDK: exact counts after
 * allowed, denied, locally denied (deny cache) and failed checks; batch
 * sizes, pending checks and store errors; check spans with Redis client
 * spans (database semantic conventions) parented to and linked from the
 * checks they carry; error status on failures; and no key in any attribute.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { Limiter, LimiterError, RedisStore } from '../src/index.js';
import type { Limit } from '../src/limits.js';
import { packedScript } from '../src/lua.js';
import { MetricNames } from '../src/telemetry/names.js';
import { histogramCount, histogramPoints, otel, recordedStrings, sumPoints, sumValue, useOtelGlobals } from './helpers/otel.js';
import { useRedis } from './helpers/redis-server.js';

const T0 = 1_700_000_000_000_000; // fixed clock, µs: Redis and the deny cache see the same time
const fixed = (): number => T0;
const user: Limit = { rate: 2, period: 60_000, name: 'user' };
const keysUsed = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];
const redisSource = (outcome: string, source: string): Record<string, string> => ({
  'tollgate.check.outcome': outcome,
  'tollgate.check.source': source,
  'tollgate.limit.name': 'user',
});

useOtelGlobals();
const redis = useRedis();

function noKeys(strings: readonly string[]): string[] {
  return strings.filter((s) => keysUsed.some((k) => s.includes(k)));
}

describe('telemetry: checks on a RedisStore', () => {
  it('counts Redis answers, deny-cache answers, batches and pending checks exactly', async () => {
    const sdk = otel();
    const telemetry = { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider };
    const uncached = new Limiter({ store: new RedisStore({ client: redis.client(), now: fixed, denyCache: false }), ...telemetry });
    const cached = new Limiter({ store: new RedisStore({ client: redis.client(), now: fixed }), ...telemetry });
    const seen: string[] = [];
    const record = (r: { allowed: boolean }): void => void seen.push(r.allowed ? 'allowed' : 'denied');
    for (let i = 0; i < 3; i += 1) record(await uncached.allow('alice', user)); // allowed, allowed, denied by Redis
    for (let i = 0; i < 3; i += 1) record(await cached.allow('alice', user)); // denied by Redis, then twice by the cache
    assert.deepEqual(seen, ['allowed', 'allowed', 'denied', 'denied', 'denied', 'denied']);

    const m = await sdk.collect();
    const checks = m.get(MetricNames.CHECKS);
    assert.equal(sumValue(checks, redisSource('allowed', 'redis')), 2);
    assert.equal(sumValue(checks, redisSource('denied', 'redis')), 2);
    assert.equal(sumValue(checks, redisSource('denied', 'cache')), 2);
    assert.equal(sumPoints(checks).length, 3);
    assert.equal(histogramCount(m.get(MetricNames.CHECK_DURATION), {}), 6);
    assert.equal(sumValue(m.get(MetricNames.DENY_CACHE_HITS), { 'tollgate.store.type': 'redis' }), 2);
    const batches = histogramPoints(m.get(MetricNames.BATCH_SIZE));
    assert.equal(batches.length, 1);
    assert.equal(batches[0]?.count, 4, 'four script calls: the cache answered the other two checks');
    assert.equal(batches[0]?.sum, 4, 'one check per call: each was awaited before the next');
    assert.deepEqual(sumPoints(m.get(MetricNames.PENDING_CHECKS)), [[{ 'tollgate.store.type': 'redis' }, 0]]);
    assert.equal(sumPoints(m.get(MetricNames.STORE_ERRORS)).length, 0);
    assert.deepEqual(noKeys(recordedStrings(m.values(), sdk.spans())), []);
    await sdk.shutdown();
  });

  it('reports the checks waiting on the store while they wait', async () => {
    const sdk = otel();
    const store = new RedisStore({ client: redis.client(), now: fixed, denyCache: false, pool: { size: 1 }, timeout: 5000 });
    const limiter = new Limiter({ store, meterProvider: sdk.meterProvider });
    const paused = redis.client();
    await paused.call('CLIENT', 'PAUSE', '300', 'ALL');
    const inFlight = Array.from({ length: 5 }, () => limiter.allow('bob', { rate: 100, period: 1000, name: 'user' }));
    await new Promise((r) => setTimeout(r, 100));
    const during = sumValue((await sdk.collect()).get(MetricNames.PENDING_CHECKS), { 'tollgate.store.type': 'redis' });
    const results = await Promise.all(inFlight);
    const afterwards = sumValue((await sdk.collect()).get(MetricNames.PENDING_CHECKS), { 'tollgate.store.type': 'redis' });
    assert.equal(during, 5);
    assert.equal(afterwards, 0);
    assert.equal(results.filter((r) => r.allowed).length, 5);
    await sdk.shutdown();
  });

  it('traces a check and its EVALSHA client span with the database semantic conventions', async () => {
    const sdk = otel();
    const limiter = new Limiter({ store: new RedisStore({ client: redis.client(), now: fixed }), tracerProvider: sdk.tracerProvider });
    const tracer = sdk.tracerProvider.getTracer('test');
    await tracer.startActiveSpan('request', async (parent) => {
      await limiter.allow('carol', user);
      parent.end();
    });
    const spans = sdk.spans();
    const request = spans.find((s) => s.name === 'request');
    const check = spans.find((s) => s.name === 'tollgate.check');
    const client = spans.find((s) => s.kind === SpanKind.CLIENT);
    assert.ok(request && check && client);
    assert.equal(check.parentSpanContext?.spanId, request.spanContext().spanId);
    assert.equal(client.parentSpanContext?.spanId, check.spanContext().spanId, 'a lone check parents its script call');
    assert.equal(client.links.length, 0);
    assert.equal(client.name, `EVALSHA ${packedScript.sha}`, 'a lone rate check runs the packed-only script');
    assert.deepEqual(client.attributes, {
      'db.system.name': 'redis',
      'db.operation.name': 'EVALSHA',
      'db.stored_procedure.name': packedScript.sha,
      'server.address': '127.0.0.1',
      'server.port': redis.port,
      'db.namespace': '0',
      'tollgate.batch.size': 1,
    });
    assert.equal(client.status.code, SpanStatusCode.UNSET);
    assert.equal(check.attributes['tollgate.check.source'], 'redis');
    assert.equal(check.attributes['tollgate.check.remaining'], 1);
    assert.deepEqual(noKeys(recordedStrings([], spans)), []);
    await sdk.shutdown();
  });

  it('gives a batch one client span, child of its first traced check and linked to the others', async () => {
    const sdk = otel();
    const store = new RedisStore({ client: redis.client(), now: fixed, denyCache: false, pool: { size: 1 } });
    const limiter = new Limiter({ store, tracerProvider: sdk.tracerProvider });
    const tracer = sdk.tracerProvider.getTracer('test');
    const n = 20;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        tracer.startActiveSpan(`request ${i}`, async (parent) => {
          await limiter.allow(i % 2 === 0 ? 'dave' : 'erin', { rate: 1000, period: 1000, name: 'user' });
          parent.end();
        }),
      ),
    );
    const spans = sdk.spans();
    const checks = spans.filter((s) => s.name === 'tollgate.check');
    const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
    assert.equal(checks.length, n);
    const carried = clients.reduce((sum, s) => sum + Number(s.attributes['tollgate.batch.size']), 0);
    assert.equal(carried, n, 'every check was carried by exactly one script call');
    assert.ok(clients.length < n, `checks issued together were batched (${clients.length} calls for ${n} checks)`);
    const checkIds = new Set(checks.map((s) => s.spanContext().spanId));
    const referenced: string[] = [];
    for (const client of clients) {
      const parentId = client.parentSpanContext?.spanId;
      assert.ok(parentId !== undefined && checkIds.has(parentId), 'the client span is a child of a check span');
      referenced.push(parentId, ...client.links.map((l) => l.context.spanId));
      assert.equal(client.links.length + 1, client.attributes['tollgate.batch.size']);
    }
    assert.deepEqual([...referenced].sort(), [...checkIds].sort(), 'each check span is the parent of, or linked from, its call');
    await sdk.shutdown();
  });
});

describe('telemetry: store failures', () => {
  const dead = useRedis();

  it('counts failed checks and failure-policy answers, with error status and exception events', async () => {
    const sdk = otel();
    const telemetry = { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider };
    const client = dead.client();
    const throwing = new Limiter({ store: new RedisStore({ client, timeout: 200 }), onStoreError: 'throw', ...telemetry });
    const open = new Limiter({ store: new RedisStore({ client, timeout: 200 }), onStoreError: 'open', failureCooldown: 0, ...telemetry });
    await dead.stop();
    const tracer = sdk.tracerProvider.getTracer('test');
    let code = '';
    const answers: boolean[] = [];
    await tracer.startActiveSpan('request', async (parent) => {
      await assert.rejects(throwing.allow('frank', user), (error: unknown) => {
        assert.ok(error instanceof LimiterError);
        code = error.code;
        return true;
      });
      for (let i = 0; i < 2; i += 1) {
        const r = await open.allow('grace', user);
        assert.equal(r.reason, 'open');
        answers.push(r.allowed);
      }
      parent.end();
    });
    assert.deepEqual(answers, [true, true]);
    assert.ok(['ERR_STORE', 'ERR_TIMEOUT', 'ERR_CLOSED', 'ERR_POOL_TIMEOUT'].includes(code), code);

    const m = await sdk.collect();
    const checks = m.get(MetricNames.CHECKS);
    assert.equal(sumValue(checks, { 'tollgate.check.outcome': 'error', 'error.type': code, 'tollgate.limit.name': 'user' }), 1);
    assert.equal(
      sumValue(checks, {
        'tollgate.check.outcome': 'allowed',
        'tollgate.check.source': 'failure_policy',
        'tollgate.failure.policy': 'open',
        'tollgate.limit.name': 'user',
      }),
      2,
    );
    assert.equal(sumPoints(checks).length, 2);
    const duration = m.get(MetricNames.CHECK_DURATION);
    assert.equal(histogramCount(duration, { 'error.type': code }), 1);
    assert.equal(histogramCount(duration, {}), 2);
    const errors = sumPoints(m.get(MetricNames.STORE_ERRORS));
    assert.ok(errors.length >= 1);
    assert.equal(
      errors.reduce((sum, [, v]) => sum + v, 0),
      3,
      'one store error per failed check (each was alone in its call)',
    );
    for (const [attributes] of errors) assert.equal(attributes['tollgate.store.type'], 'redis');

    const spans = sdk.spans().filter((s) => s.name === 'tollgate.check');
    assert.equal(spans.length, 3);
    const [failed, ...answered] = spans;
    assert.equal(failed?.status.code, SpanStatusCode.ERROR);
    assert.equal(failed?.attributes['error.type'], code);
    assert.equal(failed?.attributes['tollgate.check.outcome'], 'error');
    assert.equal(failed?.events.filter((e) => e.name === 'exception').length, 1);
    for (const span of answered) {
      assert.equal(span.status.code, SpanStatusCode.UNSET, 'the policy answered: the check itself did not fail');
      assert.equal(span.attributes['tollgate.failure.policy'], 'open');
      assert.equal(span.attributes['tollgate.check.source'], 'failure_policy');
      assert.equal(span.events.filter((e) => e.name === 'exception').length, 1, 'the store error is recorded as an event');
    }
    assert.deepEqual(noKeys(recordedStrings(m.values(), sdk.spans())), []);
    await sdk.shutdown();
  });
});
