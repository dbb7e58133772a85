/**
 * cyrb53, a fast string hash that mixes short, similar inputs (user ids, `uid_dueAt`) well: the
 * one hash the core uses where it needs a deterministic spread (due ranks, ceiling shards).
 */

/**
 * cyrb53's two 32-bit halves of `text` (signed, as `Math.imul` leaves them): callers take the
 * bits they need (`h1 >>> 0` for 32 bits; up to 53 bits with the low bits of `h2`).
 */
export function cyrb53Halves(text: string): { h1: number; h2: number } {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return { h1, h2 };
}
