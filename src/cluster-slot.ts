/**
 * Redis Cluster hash slots: which of the 16,384 slots a key lives in
 * (CRC16/XMODEM of the key's UTF-8 bytes, or of its `{hash tag}` when it has
 * a non-empty one, modulo 16384), as the Redis Cluster specification defines
 * it. The RedisStore uses it to send each script call to one slot only.
 */

/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i += 1) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i += 1) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

const encoder = new TextEncoder();
/** Reused for the UTF-8 bytes of every key that fits (keys are short), so hashing copies nothing. */
const scratch = new Uint8Array(4096);

/**
 * The cluster hash slot of `key` (0..16383). Only the part between the first
 * `{` and the next `}` is hashed when that part is non-empty, so keys sharing
 * a hash tag share a slot.
 */
export function keySlot(key: string): number {
  // 3 bytes per UTF-16 unit at most: a key that surely fits is encoded into the scratch buffer.
  const bytes = key.length * 3 <= scratch.length ? scratch.subarray(0, encoder.encodeInto(key, scratch).written) : encoder.encode(key);
  const open = bytes.indexOf(0x7b); // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes, open + 1, close) % CLUSTER_SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % CLUSTER_SLOTS;
}
