/**
 * Example: the smallest Express server limited by tollgate: 5 requests per
 * second per client address (bursts of 5), on the in-process store.
 *
 *   npx tsx examples/express-minimal.ts          (PORT=3000 by default)
 *   for i in $(seq 7); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:3000/; done
 */
import express from 'express';
import { perSecond } from 'tollgate';
import { rateLimit } from 'tollgate/express';

const app = express();
app.use(rateLimit({ limit: perSecond(5) }));
app.get('/', (_req, res) => {
  res.json({ hello: 'world' });
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as { port: number }).port}/`);
});
process.once('SIGINT', () => server.close());
process.once('SIGTERM', () => server.close());
