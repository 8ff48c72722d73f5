/**
 * Example: per-tenant plans from a policy resolver. The API key names the
 * tenant; its plan sets a quota the whole tenant shares, and every API key
 * also has a per-client limit, both checked together. Unknown keys get 401
 * before the limiter, so nobody escapes a quota by sending no key.
 *
 *   npx tsx examples/tenant-plans.ts             (PORT=3000 by default)
 *   curl -i -H 'x-api-key: free-key-1' http://127.0.0.1:3000/
 */
import express from 'express';
import { perMinute, perSecond, type Limit } from 'tollgate';
import { rateLimit } from 'tollgate/express';

/** The plans: what one tenant may use in total. */
const plans: Record<string, Limit> = { free: perMinute(5), pro: perMinute(100) };

/** API keys and their tenants (in an application: a database, cached by policyKey). */
const apiKeys = new Map([
  ['free-key-1', { tenant: 'initech', plan: 'free' }],
  ['free-key-2', { tenant: 'initech', plan: 'free' }],
  ['pro-key-1', { tenant: 'acme', plan: 'pro' }],
]);

const app = express();
app.use((req, res, next) => {
  if (apiKeys.has(req.get('x-api-key') ?? '')) return next();
  res.status(401).json({ error: 'unknown or missing x-api-key' });
});
app.use(
  rateLimit({
    name: 'plans',
    policyKey: (req) => req.get('x-api-key'),
    policy: (req) => {
      const apiKey = req.get('x-api-key') ?? '';
      const account = apiKeys.get(apiKey);
      const plan = account && plans[account.plan];
      if (!account || !plan) return null;
      return {
        name: account.plan,
        scope: account.tenant,
        limits: {
          tenant: { limit: plan, key: () => account.tenant }, // one bucket for the tenant
          client: { limit: perSecond(2), key: () => apiKey }, // and one per API key
        },
      };
    },
  }),
);
app.get('/', (req, res) => {
  res.json({ tenant: apiKeys.get(req.get('x-api-key') ?? '')?.tenant, remaining: req.rateLimit?.result.remaining });
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as { port: number }).port}/`);
});
process.once('SIGINT', () => server.close());
process.once('SIGTERM', () => server.close());
