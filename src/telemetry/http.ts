/**
 * HttpHooks backed by OpenTelemetry: the middleware calls `onRequest` once
 * per request and it is counted in `tollgate.http.requests` by result and
 * policy, modelled on ASP.NET Core's `aspnetcore.rate_limiting.requests`.
 */
import { type MeterProvider, metrics } from '@opentelemetry/api';
import { ErrorCodes, LimiterError, describe } from '../errors.js';
import type { HttpHooks, HttpResult } from './hooks.js';
import { type TollgateMetrics, metricsFor } from './meter.js';

/**
 * Creates the HTTP hooks for a middleware instance. With no `meterProvider`
 * the global one is looked up at every request, so an SDK registered later
 * is picked up; with no SDK registered a request costs one lookup.
 */
export function createHttpHooks(meterProvider?: MeterProvider): HttpHooks {
  if (meterProvider !== undefined && (typeof meterProvider !== 'object' || meterProvider === null || typeof meterProvider.getMeter !== 'function')) {
    throw new LimiterError(
      ErrorCodes.INVALID_OPTION,
      `createHttpHooks(meterProvider) must be given an OpenTelemetry MeterProvider (an object with getMeter()), got ${describe(meterProvider)}`,
    );
  }
  let from: MeterProvider | undefined;
  let resolved: TollgateMetrics | null = null;
  return {
    onRequest(result: HttpResult, policy: string): void {
      const provider = meterProvider ?? metrics.getMeterProvider();
      if (provider !== from) {
        from = provider;
        resolved = metricsFor(provider);
      }
      resolved?.countHttp(result, policy);
    },
  };
}
