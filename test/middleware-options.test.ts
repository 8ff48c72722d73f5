/**
 * Option validation of the Express middleware and the Fastify plugin: every
 * invalid option throws at once a LimiterError whose code is stable and
 * whose message names the option, the value and what is allowed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { ErrorCodes } from '../src/errors.js';
import { Limiter } from '../src/limiter.js';
import { perSecond } from '../src/limits.js';
import { MemoryStore } from '../src/memory-store.js';
import { rateLimit } from '../middleware/express.js';
import { tollgate } from '../middleware/fastify.js';

const limit = perSecond(10);
const bad = (options: unknown, code: string, message: RegExp) => assert.throws(() => rateLimit(options as never), { code, message });

describe('rateLimit() options', () => {
  it('needs exactly one of limit, limits and policy', () => {
    bad({}, ErrorCodes.INVALID_OPTION, /exactly one of the options "limit", "limits" and "policy", got none/);
    bad({ limit, limits: { a: limit } }, ErrorCodes.INVALID_OPTION, /got "limit" and "limits"/);
    bad({ limit, policy: () => null }, ErrorCodes.INVALID_OPTION, /got "limit" and "policy"/);
    bad(undefined, ErrorCodes.INVALID_OPTION, /exactly one/);
    bad('10/s', ErrorCodes.INVALID_OPTION, /options must be an object, got "10\/s"/);
  });

  it('rejects unknown options, naming the known ones', () => {
    bad({ limit, limt: 3 }, ErrorCodes.INVALID_OPTION, /option "limt" is not known; known options: limiter, store, name, limit/);
  });

  it('rejects bad limits with ERR_INVALID_LIMIT naming where', () => {
    bad({ limit: { rate: 0, period: 1000 } }, ErrorCodes.INVALID_LIMIT, /"limit": limit.rate must be an integer >= 1, got 0/);
    bad({ limits: { user: { rate: 1, period: -1 } } }, ErrorCodes.INVALID_LIMIT, /"limits.user": limit.period/);
    bad({ limits: { user: { limit: { rate: 1.5, period: 1 } } } }, ErrorCodes.INVALID_LIMIT, /"limits.user".limit: limit.rate/);
    bad({ limit: 10 }, ErrorCodes.INVALID_OPTION, /"limit" must be a limit/);
    bad({ limits: {} }, ErrorCodes.INVALID_OPTION, /"limits" must be a non-empty object/);
  });

  it('rejects names that cannot appear in a structured-field header', () => {
    bad({ limit, name: '' }, ErrorCodes.INVALID_OPTION, /option "name" must be a non-empty string/);
    bad({ limit, name: 'caf\u00e9' }, ErrorCodes.INVALID_OPTION, /printable ASCII/);
    bad({ limits: { 'new\nline': limit } }, ErrorCodes.INVALID_OPTION, /limit name must be/);
    assert.equal(typeof rateLimit({ limits: { 'quote"and\\slash': limit } }), 'function');
  });

  it('rejects bad key, cost, skip, handler, hooks and booleans', () => {
    bad({ limit, key: 'ip' }, ErrorCodes.INVALID_OPTION, /option "key" must be a function/);
    bad({ limit, cost: -1 }, ErrorCodes.INVALID_OPTION, /option "cost" must be an integer >= 0 or a function/);
    bad({ limit, cost: 1.5 }, ErrorCodes.INVALID_OPTION, /"cost".*got 1.5/);
    bad({ limits: { a: { limit, cost: 'x' } } }, ErrorCodes.INVALID_OPTION, /"limits.a".cost/);
    bad({ limit, skip: true }, ErrorCodes.INVALID_OPTION, /option "skip" must be a function, got true/);
    bad({ limit, handler: {} }, ErrorCodes.INVALID_OPTION, /option "handler" must be a function/);
    bad({ limit, hooks: {} }, ErrorCodes.INVALID_OPTION, /option "hooks" must be an object with an onRequest/);
    bad({ limit, shadow: 'yes' }, ErrorCodes.INVALID_OPTION, /option "shadow" must be a boolean, got "yes"/);
    bad({ limit, standardHeaders: 1 }, ErrorCodes.INVALID_OPTION, /"standardHeaders" must be one of "draft-10", "draft-8", "draft-7", true .* or false, got 1/);
    bad({ limit, standardHeaders: 'draft-6' }, ErrorCodes.INVALID_OPTION, /"standardHeaders" must be one of/);
    bad({ limit, onError: 'log' }, ErrorCodes.INVALID_OPTION, /option "onError" must be a function/);
    bad({ limit, onWarning: 1 }, ErrorCodes.INVALID_OPTION, /option "onWarning" must be a function/);
    bad({ limit, failOpen: null }, ErrorCodes.INVALID_OPTION, /"failOpen" must be a boolean/);
    bad({ limit, problemType: '' }, ErrorCodes.INVALID_OPTION, /"problemType" must be a non-empty URI/);
  });

  it('rejects bad allowList entries and policy cache settings', () => {
    bad({ limit, allowList: '10.0.0.0/8' }, ErrorCodes.INVALID_OPTION, /"allowList" must be an array/);
    bad({ limit, allowList: ['10.0.0.0/8', 'nope'] }, ErrorCodes.INVALID_OPTION, /"allowList\[1\]" must be an IP address or CIDR range/);
    bad({ policy: () => null, policyTtl: -1 }, ErrorCodes.INVALID_OPTION, /"policyTtl" must be an integer >= 0, got -1/);
    bad({ policy: () => null, policyCacheSize: 0 }, ErrorCodes.INVALID_OPTION, /"policyCacheSize" must be an integer >= 1/);
    bad({ policy: 'free' }, ErrorCodes.INVALID_OPTION, /option "policy" must be a function/);
  });

  it('rejects a limiter that is not one, and limiter together with store', () => {
    bad({ limit, limiter: {} }, ErrorCodes.INVALID_OPTION, /option "limiter" must be a Limiter/);
    bad({ limit, limiter: new Limiter(), store: new MemoryStore() }, ErrorCodes.INVALID_OPTION, /"limiter" and "store" cannot be used together/);
    bad({ limit, store: {} }, ErrorCodes.INVALID_OPTION, /"store" must implement the Store interface/);
  });
});

describe('Fastify plugin options', () => {
  it('rejects a bad hook or global flag at registration', async () => {
    const app = Fastify();
    await assert.rejects(async () => app.register(tollgate, { limit, hook: 'onSend' as never }).ready(), { code: ErrorCodes.INVALID_OPTION, message: /"hook" must be one of "onRequest", "preParsing", "preValidation", "preHandler", got "onSend"/ });
    const app2 = Fastify();
    await assert.rejects(async () => app2.register(tollgate, { limit, global: 'yes' as never }).ready(), { code: ErrorCodes.INVALID_OPTION, message: /"global" must be a boolean/ });
    const app3 = Fastify();
    await assert.rejects(async () => app3.register(tollgate, {} as never).ready(), { code: ErrorCodes.INVALID_OPTION, message: /exactly one of/ });
  });

  it('rejects a bad route config when the route is declared', async () => {
    const app = Fastify();
    await app.register(tollgate, { limit });
    assert.throws(() => app.get('/x', { config: { rateLimit: { limit: { rate: -1, period: 1 } } } }, async () => 'x'), {
      code: ErrorCodes.INVALID_LIMIT,
      message: /route config "rateLimit" of \/x/,
    });
    await app.close();
  });
});
