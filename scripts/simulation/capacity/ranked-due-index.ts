/**
 * The capacity simulator store's index on (due time, rank): due times grouped into one-minute
 * buckets (a sorted list of bucket keys), each bucket a list of entries sorted by (due time,
 * rank, document id), the order the scheduler walks due users in. Adding appends to the bucket's
 * `pending` list; removing only counts the old entry stale (the owner's `isLive` tells a stale
 * entry by its version). Stale entries are skipped by readers and dropped when a bucket is
 * re-sorted, which happens when new entries arrived or stale ones make up half the bucket, so
 * both costs are amortised.
 */

export interface IndexEntry {
  due: number;
  rank: number;
  uid: string;
  version: number;
}

interface DueBucket {
  sorted: IndexEntry[];
  pending: IndexEntry[];
  stale: number;
  live: number;
}

const BUCKET_MS = 60_000;

const compareEntries = (a: IndexEntry, b: IndexEntry) =>
  a.due - b.due || a.rank - b.rank || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0);

/** The first index in `sorted` whose value satisfies `isAfter` (which must be monotonic). */
export function firstIndex<Value>(sorted: readonly Value[], isAfter: (value: Value) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (isAfter(sorted[middle] as Value)) high = middle;
    else low = middle + 1;
  }
  return low;
}

export class RankedDueIndex {
  private readonly buckets = new Map<number, DueBucket>();
  private bucketKeys: number[] = [];

  constructor(readonly isLive: (entry: IndexEntry) => boolean) {}

  add(entry: IndexEntry): void {
    const bucket = this.bucketFor(Math.floor(entry.due / BUCKET_MS));
    bucket.pending.push(entry);
    bucket.live += 1;
  }

  /** The entry at `due` is no longer live (its user's version moved on). */
  remove(due: number): void {
    const bucket = this.buckets.get(Math.floor(due / BUCKET_MS));
    if (!bucket) return;
    bucket.stale += 1;
    bucket.live -= 1;
  }

  private bucketFor(key: number): DueBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { sorted: [], pending: [], stale: 0, live: 0 };
      this.buckets.set(key, bucket);
      this.bucketKeys.splice(
        firstIndex(this.bucketKeys, (existing) => existing > key),
        0,
        key,
      );
    }
    return bucket;
  }

  /** The bucket's entries in order, re-sorted (stale ones dropped) when entries arrived or half are stale. */
  private entriesOf(bucket: DueBucket): IndexEntry[] {
    if (bucket.pending.length > 0 || bucket.stale * 2 > bucket.sorted.length) {
      const merged = bucket.sorted.filter(this.isLive);
      for (const entry of bucket.pending) if (this.isLive(entry)) merged.push(entry);
      merged.sort(compareEntries);
      bucket.sorted = merged;
      bucket.pending = [];
      bucket.stale = 0;
    }
    return bucket.sorted;
  }

  /** The sorted entries (some may be stale) of each bucket that may hold due times in [from, to], in order. */
  *entriesBetween(from: number, to: number): Generator<IndexEntry[]> {
    const firstKey = Number.isFinite(from) ? Math.floor(from / BUCKET_MS) : Number.NEGATIVE_INFINITY;
    for (let position = firstIndex(this.bucketKeys, (key) => key >= firstKey); ; position += 1) {
      const key = this.bucketKeys[position];
      if (key === undefined || key * BUCKET_MS > to) return;
      yield this.entriesOf(this.buckets.get(key) as DueBucket);
    }
  }

  /** Live entries with a due time at or before `now`. */
  countUpTo(now: number): number {
    let count = 0;
    for (let position = 0; position < this.bucketKeys.length; position += 1) {
      const key = this.bucketKeys[position] as number;
      if (key * BUCKET_MS > now) break;
      const bucket = this.buckets.get(key) as DueBucket;
      if (bucket.live === 0) continue;
      const entries = this.entriesOf(bucket);
      if ((entries.at(-1)?.due ?? now) <= now) {
        count += bucket.live;
        continue;
      }
      // The bucket holding `now`: count its live entries up to it.
      for (const entry of entries) {
        if (entry.due > now) break;
        if (this.isLive(entry)) count += 1;
      }
    }
    return count;
  }
}
