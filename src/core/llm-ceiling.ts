/**
 * The global ceiling on LLM calls per minute (`LLM_CALLS_PER_MINUTE`), as pure arithmetic: how a
 * minute's budget is split over shard documents, which shards a caller tries and in what order,
 * the minute's keys and ids, and when a refused caller may try again. The gate that reserves
 * calls over storage is adapters/llm-ceiling-gate.ts; `now` is always passed in.
 *
 * Why shards: every reservation writes the document that counts it, and real Firestore sustains
 * about one write per second on a document. A minute's budget is therefore split over
 * `ceil(limit / 50)` shard documents, each owning a share of at most 50 calls (under one admitted
 * write a second), the shares summing exactly to the limit. A reservation lands whole in one
 * shard, so the minute admits at most the sum of the shares: the limit.
 *
 * Why every shard but the last holds exactly 50: a shard's share then depends on the limit only
 * through where the last shard is, so when the limit changes (a deploy: old and new instances
 * reserve in the same minute, each by its own shares on the same documents), each shard admits at
 * most the larger of its two shares, and those sum to at most the larger limit. Shares split
 * evenly would not: 51 (26 + 25) and 50 (50) in one minute admitted 75.
 */
import { windowKeys } from "./quota";
import { cyrb53Halves } from "./string-hash";

/** The most calls one shard document admits a minute: under Firestore's ~1 sustained write/s. */
export const CEILING_SHARD_CAPACITY = 50;

/**
 * Shards a reservation tries before it is refused: its own (from its seed) and two more. Bounded
 * so a refusal costs a few document operations, at the price of refusing, late in a nearly full
 * minute, a reservation that one of the untried shards still had room for (under-admission,
 * never over).
 */
export const MAX_SHARDS_TRIED = 3;

/** The longest range the usage read answers: it reads every shard of every minute in it. */
export const MAX_USAGE_MINUTES = 180;

/**
 * The most shard documents one usage read may cost: an hour at 3,000 calls a minute (60 shards).
 * Above that the read keeps the latest minutes that fit (6 at 30,000 a minute), so a dashboard
 * render never reads tens of thousands of documents (megabytes of entries, seconds of latency).
 */
export const MAX_USAGE_DOCUMENTS = 3_600;

const MINUTE_MS = 60_000;

/** One shard of a minute's budget. */
export interface CeilingShard {
  /** 0-based; part of the document id. */
  index: number;
  /** The calls this shard admits in a minute. */
  share: number;
}

/**
 * The shards of a minute at `callsPerMinute`: `ceil(limit / 50)` of them, each admitting 50 calls
 * but the last, which admits the rest (1 to 50), the shares summing exactly to the limit. Shard
 * `index` has the same share under every limit that has more than `index + 1` shards (see above).
 */
export function ceilingShards(callsPerMinute: number): CeilingShard[] {
  if (!Number.isInteger(callsPerMinute) || callsPerMinute < 1)
    throw new RangeError(`callsPerMinute must be a positive integer, got ${callsPerMinute}`);
  const count = Math.ceil(callsPerMinute / CEILING_SHARD_CAPACITY);
  return Array.from({ length: count }, (_, index) => ({
    index,
    share: index < count - 1 ? CEILING_SHARD_CAPACITY : callsPerMinute - CEILING_SHARD_CAPACITY * (count - 1),
  }));
}

/** Start of `now`'s UTC minute (ms). */
export function minuteStartOf(now: number): number {
  return Math.floor(now / MINUTE_MS) * MINUTE_MS;
}

/** When a refused caller may try again: the start of the next UTC minute, when a fresh budget starts. */
export function ceilingRetryAt(now: number): number {
  return minuteStartOf(now) + MINUTE_MS;
}

/** The minute's key, `YYYYMMDDHHmm` (UTC), as the per-user quota's minute windows name it. */
export function ceilingMinuteKey(minuteStart: number): string {
  return windowKeys(minuteStart).minute;
}

/**
 * The document id of shard `index` of the minute: `s{index}_{minuteKey}`. Shard first, so a
 * minute's writes spread over `count` key ranges instead of one range that moves with the clock
 * (Firestore's hotspot rule for sequential ids applies from ~500 writes/s on one range).
 */
export function ceilingShardId(minuteStart: number, index: number): string {
  return `s${index}_${ceilingMinuteKey(minuteStart)}`;
}

/** cyrb53 (core/string-hash.ts), 32 bits: well mixed for short, similar seeds such as user ids. */
function hash32(text: string): number {
  return cyrb53Halves(text).h1 >>> 0;
}

/**
 * The shards a caller with `seed` tries, in order: `min(tries, shardCount)` distinct indexes,
 * each drawn from a hash of the seed and the attempt. Deterministic (the same seed tries the same
 * shards), and spread: the first shard of many seeds is close to uniform over the shards, and so
 * is the shard a caller falls back to, so a full shard's callers do not all crowd its neighbour.
 */
export function shardOrder(seed: string, shardCount: number, tries = MAX_SHARDS_TRIED): number[] {
  const wanted = Math.min(tries, shardCount);
  const order: number[] = [];
  // A few draws past `wanted` find distinct shards with near certainty; a walk from the first
  // draw completes the order if they do not (deterministic either way).
  for (let attempt = 0; order.length < wanted && attempt < wanted * 4; attempt += 1) {
    const shard = hash32(`${seed}#${attempt}`) % shardCount;
    if (!order.includes(shard)) order.push(shard);
  }
  for (let step = 1; order.length < wanted; step += 1) {
    const shard = ((order[0] ?? 0) + step) % shardCount;
    if (!order.includes(shard)) order.push(shard);
  }
  return order;
}

/** One reservation in a shard document: an entry of its `reservations` array, in append order. */
export interface CeilingEntry {
  reservationId: string;
  calls: number;
}

/** How an entry is stored: one array element, `{reservationId}:{calls}` (unique per reservation). */
export function encodeCeilingEntry({ reservationId, calls }: CeilingEntry): string {
  return `${reservationId}:${calls}`;
}

/** The entries of a stored `reservations` array, in order; anything malformed is skipped. */
export function decodeCeilingEntries(stored: unknown): CeilingEntry[] {
  if (!Array.isArray(stored)) return [];
  return stored.flatMap((element) => {
    if (typeof element !== "string") return [];
    const separator = element.lastIndexOf(":");
    const calls = Number(element.slice(separator + 1));
    if (separator < 1 || !Number.isInteger(calls) || calls < 1) return [];
    return [{ reservationId: element.slice(0, separator), calls }];
  });
}

/**
 * The calls of the entries up to and including `reservationId`'s, in the shard's order (the order
 * their writes were applied): the reservation is admitted when this is within the shard's share.
 * Null when the entry is not there.
 */
export function callsThrough(entries: readonly CeilingEntry[], reservationId: string): number | null {
  let calls = 0;
  for (const entry of entries) {
    calls += entry.calls;
    if (entry.reservationId === reservationId) return calls;
  }
  return null;
}

/** The calls of all the entries of a shard. */
export function totalCalls(entries: readonly CeilingEntry[]): number {
  return entries.reduce((sum, entry) => sum + entry.calls, 0);
}

/** Why a reservation was refused, and when to try again (the port's `CeilingDecision`). */
export function ceilingRefusal(
  now: number,
  reason: string,
): { admitted: false; retryAt: number; reason: string } {
  return { admitted: false, retryAt: ceilingRetryAt(now), reason };
}

/**
 * The minute starts of a usage read over `[from, to)`, oldest first: every UTC minute that starts
 * before `to` and ends after `from`, of which only the latest `floor(MAX_USAGE_DOCUMENTS /
 * shardCount)` (at least one) when a minute has `shardCount` shard documents. Throws beyond
 * `MAX_USAGE_MINUTES` (a programming error: the read costs one document per shard per minute).
 */
export function usageMinutes({ from, to }: { from: number; to: number }, shardCount = 1): number[] {
  const minutes: number[] = [];
  if (to <= from) return minutes;
  for (let minute = minuteStartOf(from); minute < to; minute += MINUTE_MS) minutes.push(minute);
  if (minutes.length > MAX_USAGE_MINUTES)
    throw new RangeError(`a ceiling usage read covers at most ${MAX_USAGE_MINUTES} minutes`);
  const affordable = Math.max(1, Math.floor(MAX_USAGE_DOCUMENTS / Math.max(1, shardCount)));
  return minutes.slice(-affordable);
}

/** What one stored shard document says about its minute. */
export interface CeilingShardUsage {
  minuteStart: number;
  calls: number;
  /** The limit in force when the shard was written. */
  limit: number;
}

/**
 * One entry per minute of `minutes`: the calls of its shards summed, and its limit (the one its
 * shards were written under, the current one for a minute without shards).
 */
export function summarizeCeilingUsage({
  minutes,
  shards,
  currentLimit,
}: {
  minutes: readonly number[];
  shards: readonly CeilingShardUsage[];
  currentLimit: number;
}): { minuteStart: number; calls: number; limit: number }[] {
  const byMinute = new Map(minutes.map((minuteStart) => [minuteStart, { calls: 0, limit: 0 }]));
  for (const shard of shards) {
    const minute = byMinute.get(shard.minuteStart);
    if (!minute) continue;
    minute.calls += shard.calls;
    minute.limit = Math.max(minute.limit, shard.limit);
  }
  return minutes.map((minuteStart) => {
    const minute = byMinute.get(minuteStart) ?? { calls: 0, limit: 0 };
    return { minuteStart, calls: minute.calls, limit: minute.limit || currentLimit };
  });
}
