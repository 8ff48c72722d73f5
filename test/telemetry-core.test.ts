/**
 * Telemetry of the core Limiter on the in-process store, with a real
 * OpenTelemetry SDK (in-memory metric exporter and span exporter): exact
 * counts and attributes after known sequences of checks, spans under a
 * parent, late SDK registration, `telemetry: false`, option validation, and
 * no key in any recorded attribute.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, metrics, trace } from '@opentelemetry/api';
import { ErrorCodes, Limiter, LimiterError, MemoryStore, perSecond, quota } from '../src/index.js';
import { type Limit } from '../src/limits.js';
import { DURATION_BUCKETS, MetricNames } from '../src/telemetry/names.js';
import { histogramCount, histogramPoints, otel, recordedStrings, sumPoints, sumValue, useOtelGlobals } from './helpers/otel.js';

const T0 = 1_700_000_000_000_000; // fixed clock, µs
const fixed = (): number => T0;
const user: Limit = { rate: 2, period: 1000, name: 'user' };
const tenant: Limit = { rate: 100, period: 1000, name: 'tenant' };
const keysUsed = ['alice', 'bob', 'carol', 'tenant-42', 'late-key', 'off-key', 'span-key'];

useOtelGlobals();

describe('telemetry: checks on the MemoryStore', () => {
  it('counts allowed and denied checks by source and limit name, and times each one', async () => {
    const sdk = otel();
    const limiter = new Limiter({ store: new MemoryStore({ now: fixed }), meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider });
    const outcomes: boolean[] = [];
    for (let i = 0; i < 3; i += 1) outcomes.push((await limiter.allow('alice', user)).allowed);
    const unnamed = perSecond(1);
    for (let i = 0; i < 2; i += 1) outcomes.push((await limiter.allow('bob', unnamed)).allowed);
    outcomes.push(
      (
        await limiter.allowAll([
          { key: 'carol', limit: user },
          { key: 'tenant-42', limit: tenant },
        ])
      ).allowed,
    );
    assert.deepEqual(outcomes, [true, true, false, true, false, true]);

    const m = await sdk.collect();
    const checks = m.get(MetricNames.CHECKS);
    assert.equal(checks?.descriptor.unit, '{check}');
    const expected: [Record<string, string>, number][] = [
      [{ 'tollgate.check.outcome': 'allowed', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }, 2],
      [{ 'tollgate.check.outcome': 'denied', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }, 1],
      [{ 'tollgate.check.outcome': 'allowed', 'tollgate.check.source': 'memory' }, 1],
      [{ 'tollgate.check.outcome': 'denied', 'tollgate.check.source': 'memory' }, 1],
      [{ 'tollgate.check.outcome': 'allowed', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user,tenant' }, 1],
    ];
    for (const [attributes, value] of expected) assert.equal(sumValue(checks, attributes), value, JSON.stringify(attributes));
    assert.equal(sumPoints(checks).length, expected.length, 'no other data points');

    const duration = m.get(MetricNames.CHECK_DURATION);
    assert.equal(duration?.descriptor.unit, 's');
    const points = histogramPoints(duration);
    assert.equal(points.length, 1);
    // Answered checks are timed without attributes (recording stays cheap); their mix is in tollgate.checks.
    assert.equal(histogramCount(duration, {}), 6);
    assert.deepEqual(points[0]?.boundaries, DURATION_BUCKETS);
    assert.ok((points[0]?.sum ?? -1) >= 0);

    // No parent span and requireParentSpan defaults to true: no spans.
    assert.equal(sdk.spans().length, 0);
    // The in-process store is not instrumented: no store metrics.
    for (const name of [MetricNames.BATCH_SIZE, MetricNames.DENY_CACHE_HITS, MetricNames.STORE_ERRORS, MetricNames.PENDING_CHECKS]) {
      assert.equal(m.get(name)?.dataPoints.length ?? 0, 0, name);
    }
    assert.deepEqual(recordedStrings(m.values(), sdk.spans()).filter((s) => keysUsed.some((k) => s.includes(k))), []);
    await sdk.shutdown();
  });

  it('makes a tollgate.check span under a recording parent, with outcome attributes', async () => {
    const sdk = otel();
    const limiter = new Limiter({ store: new MemoryStore({ now: fixed }), meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider });
    const tracer = sdk.tracerProvider.getTracer('test');
    await tracer.startActiveSpan('request', async (parent) => {
      for (let i = 0; i < 3; i += 1) await limiter.allow('alice', user);
      await limiter.allow('bob', { rate: 1, period: 1000 }, { cost: 2 });
      parent.end();
    });
    const spans = sdk.spans();
    const request = spans.find((s) => s.name === 'request');
    const checks = spans.filter((s) => s.name === 'tollgate.check');
    assert.ok(request);
    assert.equal(checks.length, 4);
    for (const span of checks) {
      assert.equal(span.kind, SpanKind.INTERNAL);
      assert.equal(span.parentSpanContext?.spanId, request.spanContext().spanId);
      assert.equal(span.spanContext().traceId, request.spanContext().traceId);
      assert.equal(span.status.code, SpanStatusCode.UNSET);
    }
    // 2 per second, burst 2: T = 500 ms, tau = 1000 ms, at a fixed clock.
    const [first, second, third, never] = checks;
    assert.deepEqual(first?.attributes, {
      'tollgate.check.items': 1,
      'tollgate.limit.name': 'user',
      'tollgate.check.allowed': true,
      'tollgate.check.outcome': 'allowed',
      'tollgate.check.source': 'memory',
      'tollgate.check.remaining': 1,
      'tollgate.check.retry_after_ms': 0,
      'tollgate.check.reset_after_ms': 500,
    });
    assert.equal(second?.attributes['tollgate.check.remaining'], 0);
    assert.equal(second?.attributes['tollgate.check.reset_after_ms'], 1000);
    assert.deepEqual(third?.attributes, {
      'tollgate.check.items': 1,
      'tollgate.limit.name': 'user',
      'tollgate.check.allowed': false,
      'tollgate.check.outcome': 'denied',
      'tollgate.check.source': 'memory',
      'tollgate.check.remaining': 0,
      'tollgate.check.retry_after_ms': 500,
      'tollgate.check.reset_after_ms': 1000,
    });
    // Cost above the burst can never pass: retry after is -1, and an unnamed limit has no name attribute.
    assert.equal(never?.attributes['tollgate.check.retry_after_ms'], -1);
    assert.equal(never?.attributes['tollgate.limit.name'], undefined);
    const m = await sdk.collect();
    assert.deepEqual(recordedStrings(m.values(), spans).filter((s) => keysUsed.some((k) => s.includes(k))), []);
    await sdk.shutdown();
  });

  it('makes root check spans when requireParentSpan is false, and none when the tracer is not given or registered', async () => {
    const sdk = otel();
    const rooted = new Limiter({ tracerProvider: sdk.tracerProvider, requireParentSpan: false });
    await rooted.allow('span-key', user);
    const spans = sdk.spans();
    assert.equal(spans.length, 1);
    assert.equal(spans[0]?.name, 'tollgate.check');
    assert.equal(spans[0]?.parentSpanContext, undefined);
    // Global tracer provider not registered: no span even without the parent requirement.
    const global = new Limiter({ requireParentSpan: false });
    await global.allow('span-key', user);
    assert.equal(sdk.spans().length, 1);
    // Registered later: picked up.
    trace.setGlobalTracerProvider(sdk.tracerProvider);
    await global.allow('span-key', user);
    assert.equal(sdk.spans().length, 2);
    await sdk.shutdown();
  });

  it('reports to a global meter provider registered after the limiter was made', async () => {
    const sdk = otel();
    const limiter = new Limiter({ store: new MemoryStore({ now: fixed }) });
    await limiter.allow('late-key', user); // no SDK yet: not counted anywhere
    metrics.setGlobalMeterProvider(sdk.meterProvider);
    await limiter.allow('late-key', user);
    await limiter.allow('late-key', user);
    const m = await sdk.collect();
    const checks = m.get(MetricNames.CHECKS);
    assert.equal(sumValue(checks, { 'tollgate.check.outcome': 'allowed', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }), 1);
    assert.equal(sumValue(checks, { 'tollgate.check.outcome': 'denied', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }), 1);
    assert.equal(sumPoints(checks).length, 2);
    await sdk.shutdown();
  });

  it('reports nothing with telemetry: false, even with providers given and registered', async () => {
    const sdk = otel();
    metrics.setGlobalMeterProvider(sdk.meterProvider);
    trace.setGlobalTracerProvider(sdk.tracerProvider);
    const limiter = new Limiter({ telemetry: false, meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider, requireParentSpan: false });
    await sdk.tracerProvider.getTracer('test').startActiveSpan('request', async (parent) => {
      await limiter.allow('off-key', user);
      parent.end();
    });
    const m = await sdk.collect();
    assert.equal(m.get(MetricNames.CHECKS)?.dataPoints.length ?? 0, 0);
    assert.equal(m.get(MetricNames.CHECK_DURATION)?.dataPoints.length ?? 0, 0);
    assert.deepEqual(
      sdk.spans().map((s) => s.name),
      ['request'],
    );
    await sdk.shutdown();
  });

  it('keeps two limiters on one meter provider apart by name and adds them up otherwise', async () => {
    const sdk = otel();
    const a = new Limiter({ store: new MemoryStore({ now: fixed }), meterProvider: sdk.meterProvider });
    const b = new Limiter({ store: new MemoryStore({ now: fixed }), meterProvider: sdk.meterProvider });
    await a.allow('alice', user);
    await b.allow('alice', user);
    await b.allow('alice', user);
    await b.allow('alice', user);
    const checks = (await sdk.collect()).get(MetricNames.CHECKS);
    assert.equal(sumValue(checks, { 'tollgate.check.outcome': 'allowed', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }), 3);
    assert.equal(sumValue(checks, { 'tollgate.check.outcome': 'denied', 'tollgate.check.source': 'memory', 'tollgate.limit.name': 'user' }), 1);
    await sdk.shutdown();
  });

  it('bounds the number of distinct limit names', async () => {
    const sdk = otel();
    const limiter = new Limiter({ store: new MemoryStore({ now: fixed }), meterProvider: sdk.meterProvider });
    for (let i = 0; i < 105; i += 1) await limiter.allow('alice', { rate: 10, period: 1000, name: `plan-${i}` });
    const points = sumPoints((await sdk.collect()).get(MetricNames.CHECKS));
    assert.equal(points.length, 101);
    assert.equal(
      points.find(([a]) => a['tollgate.limit.name'] === '_other')?.[1],
      5,
    );
    await sdk.shutdown();
  });

  it('rejects invalid telemetry options, naming the option', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ telemetry: 'yes' }, /"telemetry" must be a boolean, got "yes"/],
      [{ meterProvider: {} }, /"meterProvider" must be an OpenTelemetry MeterProvider/],
      [{ tracerProvider: 42 }, /"tracerProvider" must be an OpenTelemetry TracerProvider .*got 42/],
      [{ requireParentSpan: 1 }, /"requireParentSpan" must be a boolean, got 1/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => new Limiter(options),
        (error: unknown) => error instanceof LimiterError && error.code === ErrorCodes.INVALID_OPTION && message.test(error.message),
      );
    }
  });
});

describe('telemetry: adjustments after the fact (issue 14)', () => {
  it('counts settled units by direction and limit name, and no adjustment as a check', async () => {
    const sdk = otel();
    const limiter = new Limiter({ store: new MemoryStore({ now: fixed }), meterProvider: sdk.meterProvider });
    const tokens: Limit = { rate: 100, period: 60_000, name: 'tokens' };
    const month = quota(1000, 'month', { name: 'month' });
    const r = await limiter.reserve('t', tokens, { cost: 30 });
    await r.settle(10); // 20 back
    const c = await limiter.allowAll([
      { key: 't', limit: tokens, cost: 5 },
      { key: 't', limit: month, cost: 5 },
    ]);
    await c.settle([9, 2]); // tokens: 4 more; month: 3 back
    await limiter.penalize('t', month, 7);
    await limiter.refund('other', perSecond(3), 2); // an unnamed limit with nothing to give back: no data point
    const m = await sdk.collect();
    const settled = m.get(MetricNames.SETTLED_UNITS);
    assert.equal(settled?.descriptor.unit, '{unit}');
    const expected: [Record<string, string>, number][] = [
      [{ 'tollgate.settle.direction': 'refunded', 'tollgate.limit.name': 'tokens' }, 20],
      [{ 'tollgate.settle.direction': 'charged', 'tollgate.limit.name': 'tokens' }, 4],
      [{ 'tollgate.settle.direction': 'refunded', 'tollgate.limit.name': 'month' }, 3],
      [{ 'tollgate.settle.direction': 'charged', 'tollgate.limit.name': 'month' }, 7],
    ];
    for (const [attributes, value] of expected) assert.equal(sumValue(settled, attributes), value, JSON.stringify(attributes));
    assert.equal(sumPoints(settled).filter(([, value]) => value > 0).length, expected.length, 'no other data points');
    // Two checks (the reservation and allowAll); the adjustments decided nothing.
    assert.equal(sumPoints(m.get(MetricNames.CHECKS)).reduce((s, [, value]) => s + value, 0), 2);
  });
});
