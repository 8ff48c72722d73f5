/**
 * HTTP test helpers for the middleware tests: a strict RFC 9651 list parser
 * (to prove the rate-limit headers are valid structured fields), a listening
 * Express server on loopback, stores with a controllable clock, and the
 * backends (memory, real Redis) the suites run against.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Express } from 'express';
import { MemoryStore } from '../../src/memory-store.js';
import { RedisStore } from '../../src/redis-store.js';
import type { Store } from '../../src/store.js';
import { type RedisProcess, startRedis } from './redis-server.js';

/** A bare item value of RFC 9651 (tokens are wrapped to tell them from strings). */
export type BareItem = number | string | boolean | { token: string } | { bytes: string };

/** A parsed list member (inner lists are not used by the rate-limit fields and are rejected). */
export interface ParsedItem {
  /** The bare item. */
  readonly value: BareItem;
  /** Parameters in order. */
  readonly params: [string, BareItem][];
}

class Parser {
  #i = 0;
  constructor(readonly input: string) {}

  fail(what: string): never {
    throw new Error(`invalid structured field at ${this.#i}: ${what} in ${JSON.stringify(this.input)}`);
  }
  peek(): string | undefined {
    return this.input[this.#i];
  }
  eat(): string {
    const c = this.input[this.#i];
    if (c === undefined) this.fail('unexpected end');
    this.#i += 1;
    return c;
  }
  done(): boolean {
    return this.#i >= this.input.length;
  }
  skipSp(): void {
    while (this.peek() === ' ') this.#i += 1;
  }
  skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.#i += 1;
  }

  // RFC 9651 section 4.2.1 (list), after the leading/trailing SP the field value has lost.
  list(): ParsedItem[] {
    const members: ParsedItem[] = [];
    this.skipSp();
    while (!this.done()) {
      if (this.peek() === '(') this.fail('inner lists are not expected');
      members.push(this.item());
      this.skipOws();
      if (this.done()) return members;
      if (this.eat() !== ',') this.fail('expected ","');
      this.skipOws();
      if (this.done()) this.fail('trailing comma');
    }
    return members;
  }
  item(): ParsedItem {
    return { value: this.bareItem(), params: this.params() };
  }
  params(): [string, BareItem][] {
    const out: [string, BareItem][] = [];
    while (this.peek() === ';') {
      this.eat();
      this.skipSp();
      const key = this.key();
      let value: BareItem = true;
      if (this.peek() === '=') {
        this.eat();
        value = this.bareItem();
      }
      const existing = out.findIndex(([k]) => k === key);
      if (existing >= 0) out[existing] = [key, value];
      else out.push([key, value]);
    }
    return out;
  }
  key(): string {
    const first = this.peek();
    if (first === undefined || !/[a-z*]/.test(first)) this.fail('key must start with lcalpha or "*"');
    let key = '';
    while (this.peek() !== undefined && /[a-z0-9_\-.*]/.test(this.peek() as string)) key += this.eat();
    return key;
  }
  bareItem(): BareItem {
    const c = this.peek();
    if (c === undefined) this.fail('missing bare item');
    if (c === '-' || /[0-9]/.test(c)) return this.number();
    if (c === '"') return this.string();
    if (c === '?') return this.boolean();
    if (c === ':') return this.bytes();
    if (/[A-Za-z*]/.test(c)) return this.token();
    return this.fail(`unexpected ${JSON.stringify(c)}`);
  }
  number(): number {
    let sign = 1;
    if (this.peek() === '-') {
      this.eat();
      sign = -1;
    }
    let digits = '';
    let decimal = false;
    while (this.peek() !== undefined && /[0-9.]/.test(this.peek() as string)) {
      const c = this.eat();
      if (c === '.') {
        if (decimal || digits.length > 12) this.fail('bad decimal');
        decimal = true;
      }
      digits += c;
      if (!decimal && digits.length > 15) this.fail('integer longer than 15 digits');
      if (decimal && digits.length > 16) this.fail('decimal too long');
    }
    if (digits.length === 0 || !/^[0-9]/.test(digits)) this.fail('number without digits');
    if (decimal && (digits.endsWith('.') || (digits.split('.')[1] ?? '').length > 3)) this.fail('bad fraction');
    return sign * Number(digits);
  }
  string(): string {
    this.eat();
    let out = '';
    for (;;) {
      const c = this.eat();
      if (c === '\\') {
        const next = this.eat();
        if (next !== '"' && next !== '\\') this.fail('bad escape');
        out += next;
      } else if (c === '"') {
        return out;
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) this.fail('non-printable character in string');
        out += c;
      }
    }
  }
  token(): { token: string } {
    let out = this.eat();
    while (this.peek() !== undefined && /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/.test(this.peek() as string)) out += this.eat();
    return { token: out };
  }
  boolean(): boolean {
    this.eat();
    const c = this.eat();
    if (c === '1') return true;
    if (c === '0') return false;
    return this.fail('bad boolean');
  }
  bytes(): { bytes: string } {
    this.eat();
    let out = '';
    while (this.peek() !== ':') {
      const c = this.eat();
      if (!/[A-Za-z0-9+/=]/.test(c)) this.fail('bad byte sequence');
      out += c;
    }
    this.eat();
    return { bytes: out };
  }
}

/** Parses an sf-list field value strictly per RFC 9651 section 4.2; throws on anything invalid. */
export function parseSfList(value: string): ParsedItem[] {
  return new Parser(value).list();
}

/** Parses a rate-limit field into `{ name, params }` entries, asserting each item is a string with integer params. */
export function parseRateLimitField(value: string | null): { name: string; params: Record<string, number> }[] {
  if (value === null) throw new Error('header missing');
  return parseSfList(value).map((item) => {
    if (typeof item.value !== 'string') throw new Error(`list item is not an sf-string: ${JSON.stringify(item.value)}`);
    const params: Record<string, number> = {};
    for (const [k, v] of item.params) {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`parameter ${k} is not an sf-integer`);
      params[k] = v;
    }
    return { name: item.value, params };
  });
}

/** A listening Express app on 127.0.0.1. */
export interface Listening {
  /** Base URL, e.g. http://127.0.0.1:12345 */
  readonly url: string;
  /** Stops the server (and drops keep-alive sockets). */
  close(): Promise<void>;
}

/** Starts `app` on a free loopback port (IPv4 by default, `"::1"` for IPv6). */
export async function listen(app: Express, host = '127.0.0.1'): Promise<Listening> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A controllable clock in integer µs, for stores under test. */
export class TestClock {
  /** Current time, µs since the epoch. */
  us = Math.floor(Date.now() / 1000) * 1_000_000;
  /** The store clock function. */
  readonly now = (): number => this.us;
  /** Advances the clock by `ms`. */
  advance(ms: number): void {
    this.us += Math.round(ms * 1000);
  }
}

/** A store backend the suites run against. */
export interface Backend {
  /** "memory" or "redis". */
  readonly kind: 'memory' | 'redis';
  /** A fresh store with its own keyspace, on `clock`. */
  store(clock: TestClock): Store;
  /** Stops what the backend started. */
  stop(): Promise<void>;
}

/** The memory backend and, started on a free loopback port, a real Redis backend. */
export async function backends(): Promise<Backend[]> {
  let counter = 0;
  const memory: Backend = { kind: 'memory', store: (clock) => new MemoryStore({ now: clock.now }), stop: async () => undefined };
  const r: RedisProcess = await startRedis();
  const client = r.client();
  // Each store works on duplicates of the borrowed client: close them all.
  const stores: RedisStore[] = [];
  const redisBackend: Backend = {
    kind: 'redis',
    store: (clock) => {
      counter += 1;
      const store = new RedisStore({ client, prefix: `t${counter}:`, now: clock.now });
      stores.push(store);
      return store;
    },
    stop: async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await r.stop();
    },
  };
  return [memory, redisBackend];
}

/** HTTP hooks that record every call, for asserting exact metrics. */
export class RecordingHooks {
  /** (result, policy) pairs in call order. */
  readonly events: [string, string][] = [];
  /** The HttpHooks method. */
  readonly onRequest = (result: string, policy: string): void => {
    this.events.push([result, policy]);
  };
}
