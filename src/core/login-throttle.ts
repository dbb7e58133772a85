/**
 * The admin sign-in throttle's rules, pure: which bucket an address counts against and how
 * many guesses each bucket and the whole engine get per window. The counting itself is in
 * adapters/firestore/login-throttle-store.ts.
 */

export interface LoginThrottleLimits {
  /** Length of a counting window; counts start again at its end. */
  windowMs: number;
  /** Guesses per address bucket (an IPv4 address, an IPv6 /64) per window. */
  perAddress: number;
  /**
   * Guesses per known device (a valid `ce_admin_device` cookie) per window, counted instead of
   * its address's: a forged or shared address cannot lock its holder out, and a stolen cookie
   * alone still gets only these few.
   */
  perDevice: number;
  /**
   * Guesses across all addresses per window: the ceiling an attacker with many addresses meets.
   * It can lock the sign-in page for the rest of a window; scripts keep working with the cron
   * bearer secret, and the window ends by itself.
   */
  global: number;
}

export const LOGIN_THROTTLE_LIMITS: LoginThrottleLimits = {
  windowMs: 15 * 60_000,
  perAddress: 5,
  perDevice: 5,
  global: 50,
};

/** The window `now` falls in: its start (the counting key) and its end. */
export function loginWindow(now: number, windowMs: number): { start: number; end: number } {
  const start = Math.floor(now / windowMs) * windowMs;
  return { start, end: start + windowMs };
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): number[] | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1).map(Number);
  return octets.every((octet) => octet <= 255) ? octets : undefined;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function parseIpv6(text: string): number[] | undefined {
  let address = text;
  const v4Tail = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(address)?.[1];
  if (v4Tail) {
    const octets = parseIpv4(v4Tail);
    if (!octets) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    address = `${address.slice(0, -v4Tail.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  if (![...head, ...tail].every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  return [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail].map((group) =>
    Number.parseInt(group, 16),
  );
}

/**
 * The bucket a client address counts against. An IPv6 client usually holds a whole /64 (and
 * can pick a new address in it for every request), so IPv6 counts by /64; IPv4 (also written
 * as `::ffff:a.b.c.d`) by address. Anything else (no address known) is one bucket per text.
 */
export function loginThrottleBucket(clientAddress: string): string {
  const text = clientAddress
    .trim()
    .replace(/^\[|\](?::\d+)?$/g, "")
    .replace(/%.*$/, "")
    .toLowerCase();
  const ipv4 = parseIpv4(text);
  if (ipv4) return ipv4.join(".");
  const groups = parseIpv6(text);
  if (!groups) return `other:${text.slice(0, 100)}`;
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) {
    return [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(":")}::/64`;
}

/** The bucket of requests whose address is not known: they share one budget. */
export const UNKNOWN_CLIENT_ADDRESS = "unknown";

/**
 * The client address a sign-in counts against, from headers the client cannot choose.
 * - On Vercel, `x-vercel-forwarded-for` (else `x-real-ip`): Vercel's edge overwrites both (and
 *   X-Forwarded-For) on every request, whatever the client sent.
 * - Elsewhere, only when `trustedProxyHops` is set (TRUSTED_PROXY_HOPS: the operator says a
 *   proxy that appends the peer address is in front): X-Forwarded-For is the client's own text
 *   up to the entries the proxies in front appended, and the entry `trustedProxyHops` from the
 *   right is the address the outermost trusted proxy saw (0: the rightmost, added by the one
 *   proxy in front). The leftmost entry, which anyone can write, is never used; nor are
 *   `x-real-ip` and `x-vercel-forwarded-for`, which a client reaching the server directly can set.
 * - Elsewhere without it: "unknown". `next start` reached directly keeps the X-Forwarded-For the
 *   client sent, so trusting it would let anyone spend another's bucket or dodge their own.
 * No address known: "unknown", one shared bucket (still under the global ceiling).
 */
export function clientAddressFrom({
  headers,
  onVercel,
  trustedProxyHops,
}: {
  headers: { get(name: string): string | null };
  onVercel: boolean;
  trustedProxyHops: number | undefined;
}): string {
  if (onVercel) {
    const vercelAddress = headers.get("x-vercel-forwarded-for")?.split(",")[0]?.trim();
    return vercelAddress || headers.get("x-real-ip")?.trim() || UNKNOWN_CLIENT_ADDRESS;
  }
  if (trustedProxyHops === undefined) return UNKNOWN_CLIENT_ADDRESS;
  const entries = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  return entries[entries.length - 1 - trustedProxyHops] || UNKNOWN_CLIENT_ADDRESS;
}
