/**
 * The middleware's OpenTelemetry wiring, with a real SDK (in-memory reader):
 * `tollgate.http.requests` counts every request by result and policy name,
 * the limiter's checks carry the limit names, and no attribute holds a key.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import express from 'express';
import Fastify from 'fastify';
import { perSecond } from '../src/limits.js';
import { MetricNames } from '../src/telemetry/names.js';
import { rateLimit } from '../middleware/express.js';
import { tollgate } from '../middleware/fastify.js';
import { listen } from './helpers/http.js';
import { otel, recordedStrings, sumValue } from './helpers/otel.js';

afterEach(() => {
  metrics.disable();
});

const http = (result: string, policy: string) => ({ 'tollgate.http.result': result, 'tollgate.http.policy': policy });

describe('middleware telemetry', () => {
  it('Express: counts requests by result and policy, and labels checks with limit names', async () => {
    const sdk = otel();
    const app = express();
    app.use(rateLimit({ name: 'api', limits: { user: perSecond(2) }, meterProvider: sdk.meterProvider, skip: (req) => req.path === '/skip' }));
    app.get('/', (_req, res) => res.end());
    app.get('/skip', (_req, res) => res.end());
    const server = await listen(app);
    const statuses = [];
    for (const path of ['/', '/', '/', '/skip']) statuses.push((await fetch(server.url + path, { headers: { 'x-secret-key': 'k' } })).status);
    await server.close();
    assert.deepEqual(statuses, [200, 200, 429, 200]);
    const m = await sdk.collect();
    const requests = m.get(MetricNames.HTTP_REQUESTS);
    assert.equal(sumValue(requests, http('allowed', 'api')), 2);
    assert.equal(sumValue(requests, http('denied', 'api')), 1);
    assert.equal(sumValue(requests, http('skipped', 'api')), 1);
    const checks = m.get(MetricNames.CHECKS);
    assert.equal(sumValue(checks, { 'tollgate.check.outcome': 'allowed', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }), 2);
    const strings = recordedStrings(m.values(), sdk.spans());
    assert.ok(!strings.some((s) => s.includes('127.0.0.1') || s.includes('{')), `no key in attributes: ${strings.join(', ')}`);
    await sdk.shutdown();
  });

  it('Fastify: counts shadow denials, and telemetry: false records nothing', async () => {
    const sdk = otel();
    const f = Fastify();
    await f.register(tollgate, { name: 'canary', limit: perSecond(1), shadow: true, meterProvider: sdk.meterProvider });
    f.get('/', async () => 'ok');
    f.get('/quiet', { config: { rateLimit: { limit: perSecond(1), telemetry: false } } }, async () => 'ok');
    for (let i = 0; i < 3; i += 1) assert.equal((await f.inject('/')).statusCode, 200);
    assert.equal((await f.inject('/quiet')).statusCode, 200);
    const requests = (await sdk.collect()).get(MetricNames.HTTP_REQUESTS);
    assert.equal(sumValue(requests, http('allowed', 'canary')), 1);
    assert.equal(sumValue(requests, http('shadow_denied', 'canary')), 2);
    assert.equal(requests?.dataPoints.length, 2, 'the quiet route recorded nothing');
    await f.close();
    await sdk.shutdown();
  });

  it('rejects hooks together with meterProvider, and a bad meterProvider or telemetry flag', () => {
    const sdk = otel();
    assert.throws(() => rateLimit({ limit: perSecond(1), hooks: { onRequest: () => undefined }, meterProvider: sdk.meterProvider }), { code: 'ERR_INVALID_OPTION', message: /"hooks" and "meterProvider"/ });
    assert.throws(() => rateLimit({ limit: perSecond(1), meterProvider: {} as never }), { code: 'ERR_INVALID_OPTION', message: /"meterProvider" must be an OpenTelemetry MeterProvider/ });
    assert.throws(() => rateLimit({ limit: perSecond(1), telemetry: 'no' as never }), { code: 'ERR_INVALID_OPTION', message: /"telemetry" must be a boolean/ });
  });
});
