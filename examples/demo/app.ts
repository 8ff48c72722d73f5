/**
 * The demo's HTTP API: Express, with `/metrics` unlimited and everything else
 * behind tollgate's middleware, whose policy comes from the tenant plans.
 */
import express, { type Express } from 'express';
import type { Limiter } from 'tollgate';
import { rateLimit } from 'tollgate/express';
import type { DemoMetrics } from './metrics.js';
import { resolvePolicy, tenantOf } from './plans.js';

/** Builds the app; `worker` names the process that answers (shown in a response header). */
export function createApp(limiter: Limiter, metrics: DemoMetrics, worker: string): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('x-demo-worker', worker);
    next();
  });
  app.get('/metrics', (req, res) => metrics.serve(req, res));
  app.use(
    rateLimit({
      name: 'api',
      limiter,
      policy: resolvePolicy,
      policyKey: (req) => req.get('x-api-key') ?? 'anonymous',
    }),
  );
  app.get('/', (req, res) => {
    const tenant = tenantOf(req.get('x-api-key'));
    const remaining = req.rateLimit?.result.remaining;
    res.json({ hello: tenant ? tenant.id : 'anonymous', plan: tenant?.plan.name ?? null, remaining, worker });
  });
  return app;
}
