/**
 * The demo's metrics: the OpenTelemetry SDK with its Prometheus exporter,
 * registered as the global meter provider (where tollgate reports), served
 * by the demo's own HTTP server at /metrics instead of a second port.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/** The registered SDK: a request handler for /metrics, and shutdown. */
export interface DemoMetrics {
  /** Answers a scrape with the Prometheus text format. */
  serve(req: IncomingMessage, res: ServerResponse): void;
  /** Flushes and unregisters the SDK. */
  shutdown(): Promise<void>;
}

/** Registers the SDK globally; call before the first check. */
export function setupMetrics(): DemoMetrics {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  return {
    serve: (req, res) => exporter.getMetricsRequestHandler(req, res),
    async shutdown() {
      await provider.shutdown();
      metrics.disable();
    },
  };
}
