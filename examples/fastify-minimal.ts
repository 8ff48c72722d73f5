/**
 * Example: the smallest Fastify server limited by tollgate: every route 5
 * per second per client address, one route stricter, one exempt.
 *
 *   npx tsx examples/fastify-minimal.ts          (PORT=3000 by default)
 *   curl -i http://127.0.0.1:3000/search
 */
import Fastify from 'fastify';
import { perSecond } from 'tollgate';
import tollgate from 'tollgate/fastify';

const app = Fastify();
await app.register(tollgate, { limit: perSecond(5) });
app.get('/', async () => ({ hello: 'world' }));
app.get('/search', { config: { rateLimit: { limit: perSecond(2) } } }, async () => ({ results: [] }));
app.get('/health', { config: { rateLimit: false } }, async () => 'ok');

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on ${address}/`);
process.once('SIGINT', () => void app.close());
process.once('SIGTERM', () => void app.close());
