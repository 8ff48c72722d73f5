/**
 * HTTP telemetry with a real OpenTelemetry SDK: `createHttpHooks` on its own
 * (every result, late global registration, bounded policy names, option
 * validation), and through both frameworks the results the middleware tests
 * do not reach: `error` when the store is down (with and without failOpen),
 * and the check span nested under the request's span.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SpanKind, metrics } from '@opentelemetry/api';
import express from 'express';
import Fastify from 'fastify';
import { ErrorCodes, Limiter, LimiterError, RedisStore } from '../src/index.js';
import { perSecond } from '../src/limits.js';
import { createHttpHooks } from '../src/telemetry/http.js';
import { MetricNames } from '../src/telemetry/names.js';
import { rateLimit } from '../middleware/express.js';
import { tollgate } from '../middleware/fastify.js';
import { listen } from './helpers/http.js';
import { otel, recordedStrings, sumPoints, sumValue, useOtelGlobals } from './helpers/otel.js';
import { type RedisProcess, startRedis } from './helpers/redis-server.js';

const http = (result: string, policy: string): Record<string, string> => ({ 'tollgate.http.result': result, 'tollgate.http.policy': policy });

useOtelGlobals();

describe('createHttpHooks', () => {
  it('counts every result by policy, exactly', async () => {
    const sdk = otel();
    const hooks = createHttpHooks(sdk.meterProvider);
    const calls: [Parameters<typeof hooks.onRequest>[0], string, number][] = [
      ['allowed', 'api', 3],
      ['denied', 'api', 2],
      ['shadow_denied', 'canary', 4],
      ['skipped', 'api', 1],
      ['error', 'default', 5],
    ];
    for (const [result, policy, n] of calls) for (let i = 0; i < n; i += 1) hooks.onRequest(result, policy);
    const requests = (await sdk.collect()).get(MetricNames.HTTP_REQUESTS);
    assert.equal(requests?.descriptor.unit, '{request}');
    for (const [result, policy, n] of calls) assert.equal(sumValue(requests, http(result, policy)), n);
    assert.equal(sumPoints(requests).length, calls.length);
    await sdk.shutdown();
  });

  it('picks up a global meter provider registered after the hooks were made', async () => {
    const sdk = otel();
    const hooks = createHttpHooks();
    hooks.onRequest('allowed', 'api'); // no SDK yet
    metrics.setGlobalMeterProvider(sdk.meterProvider);
    hooks.onRequest('allowed', 'api');
    hooks.onRequest('denied', 'api');
    const requests = (await sdk.collect()).get(MetricNames.HTTP_REQUESTS);
    assert.equal(sumValue(requests, http('allowed', 'api')), 1);
    assert.equal(sumValue(requests, http('denied', 'api')), 1);
    await sdk.shutdown();
  });

  it('reports policy names past the first 100 as _other', async () => {
    const sdk = otel();
    const hooks = createHttpHooks(sdk.meterProvider);
    for (let i = 0; i < 103; i += 1) hooks.onRequest('allowed', `tenant-${i}`);
    const points = sumPoints((await sdk.collect()).get(MetricNames.HTTP_REQUESTS));
    assert.equal(points.length, 101);
    assert.equal(sumValue((await sdk.collect()).get(MetricNames.HTTP_REQUESTS), http('allowed', '_other')), 3);
    await sdk.shutdown();
  });

  it('rejects a meter provider that is not one', () => {
    assert.throws(
      () => createHttpHooks({ getMeter: 1 } as never),
      (error: unknown) => error instanceof LimiterError && error.code === ErrorCodes.INVALID_OPTION && /must be given an OpenTelemetry MeterProvider/.test(error.message),
    );
  });
});

describe('HTTP telemetry through the frameworks', () => {
  let dead: RedisProcess;
  let downLimiter: Limiter;
  before(async () => {
    dead = await startRedis();
    const client = dead.client();
    downLimiter = new Limiter({ store: new RedisStore({ client, timeout: 200 }), telemetry: false });
    await dead.stop();
  });

  it('Express: a store failure counts as error, whether the request then fails or passes (failOpen)', async () => {
    const sdk = otel();
    const app = express();
    app.get('/strict', rateLimit({ name: 'strict', limit: perSecond(5), limiter: downLimiter, meterProvider: sdk.meterProvider }), (_req, res) => {
      res.end('ok');
    });
    app.get('/lenient', rateLimit({ name: 'lenient', limit: perSecond(5), limiter: downLimiter, failOpen: true, meterProvider: sdk.meterProvider }), (_req, res) => {
      res.end('ok');
    });
    app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(error instanceof LimiterError ? 500 : 599).end();
    });
    const server = await listen(app);
    const strict = await fetch(`${server.url}/strict`);
    const lenient = await fetch(`${server.url}/lenient`);
    await server.close();
    assert.equal(strict.status, 503, 'a store failure is answered 503 by the adapter');
    assert.equal(lenient.status, 200);
    const requests = (await sdk.collect()).get(MetricNames.HTTP_REQUESTS);
    assert.equal(sumValue(requests, http('error', 'strict')), 1);
    assert.equal(sumValue(requests, http('error', 'lenient')), 1);
    assert.equal(sumPoints(requests).length, 2);
    await sdk.shutdown();
  });

  it('Fastify: a store failure counts as error', async () => {
    const sdk = otel();
    const f = Fastify();
    await f.register(tollgate, { name: 'api', limit: perSecond(5), limiter: downLimiter, meterProvider: sdk.meterProvider });
    f.get('/', async () => 'ok');
    assert.equal((await f.inject('/')).statusCode, 503);
    await f.close();
    const requests = (await sdk.collect()).get(MetricNames.HTTP_REQUESTS);
    assert.equal(sumValue(requests, http('error', 'api')), 1);
    assert.equal(sumPoints(requests).length, 1);
    await sdk.shutdown();
  });

  it('Express: the check span is a child of the request span, and no attribute holds the client address', async () => {
    const sdk = otel();
    const tracer = sdk.tracerProvider.getTracer('test');
    const app = express();
    app.use((_req, res, next) => {
      tracer.startActiveSpan('GET', { kind: SpanKind.SERVER }, (span) => {
        res.on('finish', () => span.end());
        next();
      });
    });
    const limiter = new Limiter({ meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider });
    app.use(rateLimit({ name: 'api', limits: { user: perSecond(1) }, limiter, meterProvider: sdk.meterProvider }));
    app.get('/', (_req, res) => res.end('ok'));
    const server = await listen(app);
    const statuses = [(await fetch(server.url)).status, (await fetch(server.url)).status];
    await server.close();
    assert.deepEqual(statuses, [200, 429]);
    const spans = sdk.spans();
    const requests = spans.filter((s) => s.name === 'GET');
    const checks = spans.filter((s) => s.name === 'tollgate.check');
    assert.equal(requests.length, 2);
    assert.equal(checks.length, 2);
    for (const [i, check] of checks.entries()) {
      assert.equal(check.parentSpanContext?.spanId, requests[i]?.spanContext().spanId);
      assert.equal(check.attributes['tollgate.limit.name'], 'user');
    }
    assert.deepEqual(
      checks.map((s) => s.attributes['tollgate.check.allowed']),
      [true, false],
    );
    const m = await sdk.collect();
    assert.equal(sumValue(m.get(MetricNames.HTTP_REQUESTS), http('denied', 'api')), 1);
    const strings = recordedStrings(m.values(), spans);
    assert.deepEqual(
      strings.filter((s) => s.includes('127.0.0.1') || s.includes('::1')),
      [],
    );
    await sdk.shutdown();
  });
});
