/**
 * An incremental reader of HTTP/1.1 responses on one keep-alive connection,
 * for the paced load generator (bench/lib/paced-load.ts): it takes the bytes
 * as they arrive, in chunks of any size, and reports the status of every
 * response completed. It understands what the benchmark's servers send (a
 * status line, headers, a body of `content-length` bytes) and fails loudly on
 * anything else (a chunked body), rather than miscounting.
 */

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i;

/** Reads the responses of one connection. */
export class ResponseReader {
  #pending: Buffer = Buffer.alloc(0);
  /** Body bytes still to skip of the response being read, or -1 while reading its headers. */
  #bodyLeft = -1;
  #status = 0;

  /** Feeds bytes; returns the status codes of the responses they completed, in order. */
  feed(chunk: Buffer): number[] {
    const done: number[] = [];
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (this.#bodyLeft < 0) {
        const end = buf.indexOf(HEADER_END);
        if (end < 0) break;
        const head = buf.toString('latin1', 0, end);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (!status) throw new Error(`not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`);
        if (CHUNKED.test(head)) throw new Error('chunked responses are not supported by the bench reader');
        const length = CONTENT_LENGTH.exec(head);
        this.#status = Number(status[1]);
        this.#bodyLeft = length ? Number(length[1]) : 0;
        buf = buf.subarray(end + HEADER_END.length);
      }
      if (buf.length < this.#bodyLeft) {
        this.#bodyLeft -= buf.length;
        buf = buf.subarray(buf.length);
        break;
      }
      buf = buf.subarray(this.#bodyLeft);
      this.#bodyLeft = -1;
      done.push(this.#status);
    }
    // Keeps only an unfinished header block (a body being skipped needs no bytes kept).
    this.#pending = this.#bodyLeft < 0 ? Buffer.from(buf) : Buffer.alloc(0);
    return done;
  }
}

/**
 * How many requests of an open-loop schedule at `rate` per second are due
 * `elapsedMs` after its start: request i (from 0) is due at i / rate seconds,
 * so one is due at once.
 */
export function dueCount(elapsedMs: number, rate: number): number {
  if (elapsedMs < 0) return 0;
  return Math.floor((elapsedMs * rate) / 1000) + 1;
}

/** When request `i` (from 0) of a schedule at `rate` per second is due, ms after its start. */
export function dueAt(i: number, rate: number): number {
  return (i * 1000) / rate;
}
