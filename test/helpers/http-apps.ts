/**
 * One app description, built on Express (over real HTTP on loopback) or on
 * Fastify (through `inject`), so a regression test runs unchanged on both
 * frameworks: rate-limit layers (optionally under a path prefix), routes that
 * answer `req.rateLimit` as JSON, the framework's trust-proxy setting, and an
 * error handler that answers `{ code, cause }` with the error's status (or 500).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { rateLimit } from '../../middleware/express.js';
import { tollgate } from '../../middleware/fastify.js';
import type { RateLimitOptions } from '../../middleware/types.js';
import { type Listening, listen } from './http.js';

/** Adapter options as both frameworks accept them (request types left open). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOptions = RateLimitOptions<any, any> & { notFound?: boolean };

/** A rate-limit layer: options applied to every route, or to the routes under `prefix`. */
export interface Layer {
  /** The adapter options. */
  readonly options: AnyOptions;
  /** Only routes under this prefix (e.g. `/login`). */
  readonly prefix?: string;
}

/** What to build. */
export interface AppSpec {
  /** Rate-limit layers, outermost first. */
  readonly layers: readonly Layer[];
  /** Route paths (GET and POST), each answering `req.rateLimit ?? null` as JSON. */
  readonly routes: readonly string[];
  /** Framework proxy trust: every proxy, or only the loopback proxy (one hop). Default: none. */
  readonly trust?: 'all' | 'loopback';
}

/** A response, framework-neutral. */
export interface TestResponse {
  /** Status code. */
  readonly status: number;
  /** A header's value (null when absent). */
  header(name: string): string | null;
  /** The body as text. */
  readonly body: string;
}

/** A request sender of a built app. */
export interface TestApp {
  /** Sends a request. */
  send(path: string, init?: { method?: 'GET' | 'POST'; headers?: Record<string, string> }): Promise<TestResponse>;
  /** Stops the app. */
  close(): Promise<void>;
}

/** A framework the regression tests run on. */
export interface Framework {
  /** "express" or "fastify". */
  readonly name: 'express' | 'fastify';
  /** Builds and starts the app. */
  build(spec: AppSpec): Promise<TestApp>;
}

function errorBody(error: { code?: unknown; cause?: unknown }): { code: unknown; cause: unknown } {
  return { code: error.code ?? null, cause: error.cause instanceof Error ? error.cause.message : null };
}

const expressFramework: Framework = {
  name: 'express',
  async build(spec) {
    const app = express();
    if (spec.trust === 'all') app.set('trust proxy', true);
    if (spec.trust === 'loopback') app.set('trust proxy', 'loopback');
    for (const layer of spec.layers) {
      const mw = rateLimit(layer.options);
      if (layer.prefix === undefined) app.use(mw);
      else app.use(layer.prefix, mw);
    }
    for (const path of spec.routes) app.all(path, (req: Request, res: Response) => void res.json(req.rateLimit ?? null));
    app.use((error: Error & { code?: unknown; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.status ?? 500).json(errorBody(error));
    });
    const server: Listening = await listen(app);
    return {
      async send(path, init = {}) {
        const r = await fetch(server.url + path, { method: init.method ?? 'GET', headers: init.headers ?? {} });
        const body = await r.text();
        return { status: r.status, header: (name) => r.headers.get(name), body };
      },
      close: () => server.close(),
    };
  },
};

const fastifyFramework: Framework = {
  name: 'fastify',
  async build(spec) {
    const f: FastifyInstance = Fastify(spec.trust === 'all' ? { trustProxy: true } : spec.trust === 'loopback' ? { trustProxy: '127.0.0.1' } : {});
    f.setErrorHandler(async (error: Error & { code?: unknown; statusCode?: number }, _req, reply) => reply.code(error.statusCode ?? 500).send(errorBody(error)));
    const handler = async (req: FastifyRequest) => req.rateLimit ?? null;
    const prefixes = spec.layers.flatMap((l) => (l.prefix === undefined ? [] : [l.prefix]));
    for (const layer of spec.layers) if (layer.prefix === undefined) await f.register(tollgate, layer.options);
    const routeUnder = (prefix: string | undefined) => spec.routes.filter((p) => (prefix === undefined ? !prefixes.some((x) => p.startsWith(x)) : p.startsWith(prefix)));
    for (const path of routeUnder(undefined)) f.route({ method: ['GET', 'POST'], url: path, handler });
    for (const layer of spec.layers) {
      const prefix = layer.prefix;
      if (prefix === undefined) continue;
      // A prefixed layer: the plugin registered again inside a child context holding that prefix's routes.
      await f.register(async (child) => {
        await child.register(tollgate, layer.options);
        for (const path of routeUnder(prefix)) child.route({ method: ['GET', 'POST'], url: path, handler });
      });
    }
    await f.ready();
    return {
      async send(path, init = {}) {
        const r = await f.inject({ url: path, method: init.method ?? 'GET', headers: init.headers ?? {} });
        return {
          status: r.statusCode,
          header: (name) => {
            const v = r.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
          },
          body: r.body,
        };
      },
      close: () => f.close(),
    };
  },
};

/** Both frameworks. */
export const frameworks: readonly Framework[] = [expressFramework, fastifyFramework];
