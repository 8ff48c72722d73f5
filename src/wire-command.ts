/**
 * EVALSHA calls encoded once, straight into Redis's wire format (RESP), and
 * handed to an ioredis client as a ready-made command. ioredis's own path
 * flattens the argument list, converts each argument and encodes each again
 * on every call, which costs more than the rest of a batched check's Node
 * time; a call of a batch has a hundred arguments or more.
 *
 * The fast path is used only when it sends the very bytes ioredis would:
 * ioredis is loaded (lazily, as the pool does), a sample command encodes
 * byte for byte as ioredis's own `Command` does, and the client has no
 * `keyPrefix` (which ioredis applies to key arguments). Otherwise
 * {@link sendEvalsha} answers undefined and the caller uses `client.evalsha`.
 */
import type { Command as IoredisCommand } from 'ioredis';

/** What a client must offer for the fast path: ioredis's `sendCommand` (Redis and Cluster both have it). */
interface CommandSender {
  sendCommand(command: IoredisCommand): Promise<unknown>;
  readonly options?: { readonly keyPrefix?: unknown };
}

type CommandClass = typeof IoredisCommand;

/** The wire command class, once ioredis is loaded and the sample encoding matched; null when the fast path is off. */
let wireClass: (new (wire: Buffer, routing: (string | number)[]) => IoredisCommand) | null | undefined;
let loading: Promise<void> | undefined;

/** Byte lengths of the strings of the call being encoded (reused: encoding is synchronous). */
let lengths = new Int32Array(256);

/**
 * The RESP encoding of `EVALSHA sha numkeys key... arg...` as bytes (numbers
 * as ioredis writes them: `String(n)`; strings in UTF-8). Written straight
 * into one buffer: building the command as a string and having the socket
 * flatten and encode it cost several times as much for a batch's call.
 */
export function encodeEvalsha(sha: string, keys: readonly string[], args: readonly (string | number)[]): Buffer {
  const n = keys.length + args.length;
  if (lengths.length < n) lengths = new Int32Array(2 * n);
  const count = String(keys.length);
  const head = `*${3 + n}\r\n$7\r\nevalsha\r\n$${sha.length}\r\n${sha}\r\n$${count.length}\r\n${count}\r\n`;
  // Pass 1: every string's byte length, and the total (a bulk string is $<len>\r\n<bytes>\r\n).
  let size = head.length;
  for (let i = 0; i < n; i += 1) {
    const value = i < keys.length ? (keys[i] as string) : (args[i - keys.length] as string | number);
    const bytes = typeof value === 'number' ? String(value).length : utf8Length(value);
    lengths[i] = bytes;
    size += bytes + digits(bytes) + 5;
  }
  // Pass 2: the bytes.
  const out = Buffer.allocUnsafe(size);
  let p = writeAscii(out, 0, head);
  for (let i = 0; i < n; i += 1) {
    const value = i < keys.length ? (keys[i] as string) : (args[i - keys.length] as string | number);
    const bytes = lengths[i] as number;
    out[p++] = 36; // $
    p = writeAscii(out, p, String(bytes));
    out[p++] = 13;
    out[p++] = 10;
    const text = typeof value === 'number' ? String(value) : value;
    p = bytes === text.length ? writeAscii(out, p, text) : p + out.write(text, p, bytes, 'utf8');
    out[p++] = 13;
    out[p++] = 10;
  }
  return out;
}

/** Decimal digits of a length (>= 0). */
function digits(x: number): number {
  let d = 1;
  while (x >= 10) {
    x = Math.floor(x / 10);
    d += 1;
  }
  return d;
}

/** Writes ASCII `text` at `p` (a loop beats a call into the buffer's C++ writer for short strings); returns the end. */
function writeAscii(out: Buffer, p: number, text: string): number {
  for (let i = 0; i < text.length; i += 1) out[p++] = text.charCodeAt(i);
  return p;
}

/**
 * The UTF-8 length of `text`: its length when every character is ASCII (keys
 * and lease ids nearly always are; a scan of a short string costs less than
 * the call into Buffer.byteLength), else Buffer.byteLength.
 */
function utf8Length(text: string): number {
  const n = text.length;
  if (n > 64) return Buffer.byteLength(text);
  for (let i = 0; i < n; i += 1) {
    if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text);
  }
  return n;
}

/** Makes the command class over ioredis's `Command`, or null when its encoding differs from {@link encodeEvalsha}'s. */
function wireCommandClass(Base: CommandClass): typeof wireClass {
  class WireCommand extends Base {
    readonly #wire: Buffer;

    /**
     * @param wire - the whole command in RESP; @param routing - the arguments
     * ioredis sees (sha, numkeys and the first key, for a Cluster's slot)
     */
    constructor(wire: Buffer, routing: (string | number)[]) {
      super('evalsha', routing, { replyEncoding: 'utf8' });
      this.#wire = wire;
    }

    override toWritable(): Buffer {
      return this.#wire;
    }
  }
  // Self-test: a sample with every kind of argument must encode as ioredis does.
  const keys = ['k', 'clé:ü', ''];
  const args: (string | number)[] = ['', 0, -1, 1796197258995442, 'x y', 'αβγ', 2.5];
  const sha = '0123456789abcdef0123456789abcdef01234567';
  const theirs = new Base('evalsha', [sha, keys.length, ...keys, ...args], { replyEncoding: 'utf8' }).toWritable({});
  const ours = new WireCommand(encodeEvalsha(sha, keys, args), [sha, 1, 'k']);
  // Settle the sample commands' promises so nothing dangles.
  ours.promise.catch(() => undefined);
  ours.reject(new Error('sample'));
  if (typeof theirs !== 'string' || !Buffer.from(theirs).equals(ours.toWritable()) || ours.getSlot() !== new Base('get', ['k']).getSlot()) return null;
  return WireCommand;
}

/**
 * Starts loading ioredis for the fast path (once per process); resolves when
 * it is decided. Calls made before then take ioredis's own path.
 */
export function loadWireCommands(): Promise<void> {
  loading ??= import('ioredis').then(
    (mod) => {
      const Base = (mod as { Command?: CommandClass }).Command;
      try {
        wireClass = typeof Base === 'function' && typeof Base.prototype.toWritable === 'function' ? wireCommandClass(Base) : null;
      } catch {
        wireClass = null;
      }
    },
    () => {
      wireClass = null;
    },
  );
  return loading;
}

/**
 * Sends `EVALSHA sha numkeys keys... args...` on `client` as one pre-encoded
 * command; undefined (nothing sent) when the fast path is not available for
 * this client, so the caller sends it the usual way.
 */
export function sendEvalsha(client: unknown, sha: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> | undefined {
  if (!wireClass) return undefined;
  const sender = client as Partial<CommandSender>;
  // ioredis applies a truthy keyPrefix to key arguments: such a client keeps its own path.
  if (typeof sender.sendCommand !== 'function' || sender.options?.keyPrefix) return undefined;
  const first = keys[0];
  const routing = first === undefined ? [sha, 0] : [sha, 1, first];
  return sender.sendCommand(new wireClass(encodeEvalsha(sha, keys, args), routing));
}
