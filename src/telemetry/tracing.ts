/**
 * Spans: one INTERNAL `tollgate.check` span per check, and one CLIENT span
 * per store script call following the database semantic conventions, child
 * of the first traced check in the batch and linked to the others. Spans are
 * made only when a tracer provider is registered (or given) and, by default,
 * only under a recording parent span, so untraced work costs a context lookup.
 */
import {
  type Attributes,
  type Link,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  context,
  trace,
} from '@opentelemetry/api';
import { LimiterError } from '../errors.js';
import { usToMs } from '../intmath.js';
import type { AnyOutcome } from '../store.js';
import type { BatchTarget } from './hooks.js';
import type { StoreType } from './meter.js';
import { AttributeNames as A, CHECK_SPAN_NAME, SCOPE_NAME, SCOPE_VERSION } from './names.js';

/** The span context of the check being handed to its store right now (set synchronously around the store call). */
let entering: SpanContext | undefined;

/**
 * The token a store captures when a check enters it: the check's span
 * context, or the active recording span's, or undefined when nothing is traced.
 */
export function captureSpanContext(): SpanContext | undefined {
  if (entering !== undefined) return entering;
  const span = trace.getSpan(context.active());
  return span !== undefined && span.isRecording() ? span.spanContext() : undefined;
}

/** The API's no-op tracer provider: what a proxy provider without a delegate forwards to. */
const NOOP_PROVIDER: unknown = new ProxyTracerProvider().getDelegate();

/** Makes the spans of one limiter and of its store. */
export class Tracing {
  readonly #provider: TracerProvider | undefined;
  readonly #requireParent: boolean;
  #resolvedFrom: unknown;
  #tracer: Tracer | undefined;

  /**
   * @param provider - a tracer provider, or undefined for the global one
   * @param requireParentSpan - make spans only under a recording parent span
   */
  constructor(provider: TracerProvider | undefined, requireParentSpan: boolean) {
    this.#provider = provider;
    this.#requireParent = requireParentSpan;
  }

  /** True when the next check should get a span: under a recording parent (or, without that requirement, when an SDK is there). */
  wantsCheckSpan(): boolean {
    if (!this.#requireParent) return this.#live();
    const parent = trace.getSpan(context.active());
    return parent !== undefined && parent.isRecording();
  }

  /** Starts the span of a check in the active context; undefined when no real tracer is available. */
  startCheck(limitName: string | undefined, items: number): Span | undefined {
    const tracer = this.#resolve();
    if (tracer === undefined) return undefined;
    const attributes: Attributes = { [A.ITEMS]: items };
    if (limitName !== undefined) attributes[A.LIMIT_NAME] = limitName;
    return tracer.startSpan(CHECK_SPAN_NAME, { kind: SpanKind.INTERNAL, attributes }, context.active());
  }

  /** Runs the store call with `span` active, so the store can capture it and client spans nest under it. */
  run<T>(span: Span, call: () => T): T {
    const previous = entering;
    entering = span.spanContext();
    try {
      return context.with(trace.setSpan(context.active(), span), call);
    } finally {
      entering = previous;
    }
  }

  /** Ends a check span with its outcome. */
  endCheck(span: Span, outcome: AnyOutcome): void {
    let remaining = Infinity;
    let retryAfter = 0;
    let resetAfter = 0;
    for (const item of outcome.items) {
      if (item.remaining < remaining) remaining = item.remaining;
      if (!item.allowed && retryAfter >= 0 && (item.retryAfter < 0 || item.retryAfter > retryAfter)) retryAfter = item.retryAfter;
      if (item.resetAfter > resetAfter) resetAfter = item.resetAfter;
    }
    const attributes: Attributes = {
      [A.ALLOWED]: outcome.allowed,
      [A.OUTCOME]: outcome.allowed ? 'allowed' : 'denied',
      [A.SOURCE]: outcome.reason === undefined ? outcome.source : 'failure_policy',
      [A.REMAINING]: remaining === Infinity ? 0 : remaining,
      [A.RETRY_AFTER_MS]: outcome.allowed ? 0 : retryAfter < 0 ? -1 : usToMs(retryAfter),
      [A.RESET_AFTER_MS]: usToMs(resetAfter),
    };
    if (outcome.reason !== undefined) {
      attributes[A.FAILURE_POLICY] = outcome.reason;
      const error = (outcome as { error?: unknown }).error;
      if (error instanceof Error) span.recordException(error);
    }
    span.setAttributes(attributes);
    span.end();
  }

  /** Ends a check span that failed: error status, `error.type` and an exception event. */
  failCheck(span: Span, error: unknown): void {
    const type = errorType(error);
    span.setAttribute(A.OUTCOME, 'error');
    span.setAttribute(A.ERROR_TYPE, type.type);
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    span.end();
  }

  /**
   * Starts the CLIENT span of one script call carrying `size` checks whose
   * captured tokens are `contexts`; returns the function that ends it, or
   * undefined when none of the checks is traced.
   */
  startBatch(size: number, contexts: readonly unknown[], target: BatchTarget | undefined, store: StoreType): ((error?: unknown) => void) | undefined {
    let parent: SpanContext | undefined;
    let links: Link[] | undefined;
    for (const token of contexts) {
      if (!isSpanContext(token)) continue;
      if (parent === undefined) parent = token;
      else (links ??= []).push({ context: token });
    }
    if (parent === undefined && (this.#requireParent || !this.#live())) return undefined;
    const tracer = this.#resolve();
    if (tracer === undefined) return undefined;
    const operation = target?.operation ?? 'EVALSHA';
    const attributes: Attributes = { [A.DB_OPERATION_NAME]: operation, [A.BATCH_SIZE]: size };
    if (store === 'redis') attributes[A.DB_SYSTEM_NAME] = 'redis';
    if (target?.procedure !== undefined) attributes[A.DB_STORED_PROCEDURE_NAME] = target.procedure;
    if (target?.namespace !== undefined) attributes[A.DB_NAMESPACE] = target.namespace;
    if (target?.serverAddress !== undefined) attributes[A.SERVER_ADDRESS] = target.serverAddress;
    if (target?.serverPort !== undefined) attributes[A.SERVER_PORT] = target.serverPort;
    const name = target?.procedure === undefined ? operation : `${operation} ${target.procedure}`;
    const parentContext = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, ...(links ? { links } : {}) }, parentContext);
    let ended = false;
    return (error?: unknown) => {
      if (ended) return;
      ended = true;
      if (error !== undefined) {
        const type = errorType(error);
        span.setAttribute(A.ERROR_TYPE, type.type);
        if (type.status !== undefined) span.setAttribute(A.DB_RESPONSE_STATUS_CODE, type.status);
        if (error instanceof Error) span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end();
    };
  }

  /** True when a real tracer is available (a provider was given, or the global one has an SDK behind it). */
  #live(): boolean {
    if (this.#provider !== undefined) return true;
    const global = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => unknown };
    return (global.getDelegate ? global.getDelegate() : global) !== NOOP_PROVIDER;
  }

  #resolve(): Tracer | undefined {
    const provider = this.#provider ?? trace.getTracerProvider();
    const source = (provider as { getDelegate?: () => unknown }).getDelegate?.() ?? provider;
    if (source === NOOP_PROVIDER) return undefined;
    if (source !== this.#resolvedFrom) {
      this.#resolvedFrom = source;
      this.#tracer = provider.getTracer(SCOPE_NAME, SCOPE_VERSION);
    }
    return this.#tracer;
  }
}

function isSpanContext(token: unknown): token is SpanContext {
  return typeof token === 'object' && token !== null && trace.isSpanContextValid(token as SpanContext);
}

/**
 * Classifies a failure for `error.type`: a Redis error reply by its prefix
 * (also reported as `db.response.status_code`), a LimiterError by its code,
 * anything else by its class name or `_OTHER`.
 */
export function errorType(error: unknown): { type: string; status?: string } {
  const cause = error instanceof LimiterError ? error.cause : error;
  if (cause instanceof Error && cause.name === 'ReplyError') {
    const prefix = /^([A-Z][A-Z_]*)(?:\s|$)/.exec(cause.message)?.[1];
    if (prefix !== undefined) return { type: prefix, status: prefix };
  }
  if (error instanceof LimiterError) return { type: error.code };
  if (error instanceof Error && error.name !== 'Error') return { type: error.name };
  return { type: '_OTHER' };
}
