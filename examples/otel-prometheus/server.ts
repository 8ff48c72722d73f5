/**
 * Example: an Express app rate limited by tollgate, whose OpenTelemetry
 * metrics are served to Prometheus at http://127.0.0.1:9464/metrics.
 *
 *   npx tsx examples/otel-prometheus/server.ts           (in-process store)
 *   REDIS_URL=redis://127.0.0.1:PORT npx tsx examples/otel-prometheus/server.ts
 *
 * Then request http://127.0.0.1:3000/ a few times and scrape the metrics.
 * The OpenTelemetry SDK is a development dependency of this repository only;
 * tollgate itself needs nothing but @opentelemetry/api.
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import express from 'express';
import { Redis } from 'ioredis';
import { Limiter, RedisStore, perMinute, perSecond } from 'tollgate';
import { rateLimit } from 'tollgate/express';

const appPort = Number(process.env.PORT ?? 3000);
const metricsPort = Number(process.env.METRICS_PORT ?? 9464);

// 1. The SDK, registered globally before the first check: tollgate looks the
//    global meter provider up at every check, so it reports from then on.
const prometheus = new PrometheusExporter({ host: '127.0.0.1', port: metricsPort });
const meterProvider = new MeterProvider({ readers: [prometheus] });
metrics.setGlobalMeterProvider(meterProvider);

// 2. A limiter: on Redis when REDIS_URL is set (deciding in-process while
//    Redis is unreachable), on the in-process store otherwise.
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : undefined;
const limiter = new Limiter(redis ? { store: new RedisStore({ client: redis }), onStoreError: 'local' } : {});

// 3. The app: per client address, 5 per second and 100 per minute, checked together.
const app = express();
app.use(rateLimit({ name: 'api', limits: { burst: perSecond(5), sustained: perMinute(100) }, limiter }));
app.get('/', (_req, res) => {
  res.json({ ok: true });
});

const server = app.listen(appPort, '127.0.0.1', (error?: Error) => {
  if (error) throw error;
  console.log(`app:     http://127.0.0.1:${appPort}/`);
  console.log(`metrics: http://127.0.0.1:${metricsPort}/metrics`);
});

async function shutdown(): Promise<void> {
  server.close();
  server.closeAllConnections();
  await limiter.store.close();
  redis?.disconnect();
  await meterProvider.shutdown(); // also stops the /metrics server
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
