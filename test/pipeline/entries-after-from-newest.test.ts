/** Reusing the context's journal read for the insights refresh only when it provably holds every new entry. */
import { describe, expect, it } from "vitest";
import { INSIGHT_BATCH_SIZE } from "@/core/insights";
import { entriesAfterFromNewest } from "@/pipeline/refresh-insights";

const entry = (createdAt: number) => ({ id: `e${createdAt}`, content: `entry at ${createdAt}`, createdAt });
/** Newest first, as the context reads them. */
const newestFirst = (...times: number[]) => times.sort((first, second) => second - first).map(entry);

describe("entriesAfterFromNewest", () => {
  it("gives the entries after the cursor, oldest first, read through the newest, when the read reaches back past the cursor", () => {
    expect(entriesAfterFromNewest({ newest: newestFirst(50, 40, 30, 20), cursor: 30 })).toEqual({
      entries: [entry(40), entry(50)],
      readThrough: 50,
    });
  });

  it("counts an entry exactly at the cursor as analysed already", () => {
    expect(entriesAfterFromNewest({ newest: newestFirst(50, 30), cursor: 30 })?.entries).toEqual([entry(50)]);
  });

  it("is null when the oldest entry read is after the cursor: older new entries may not have been read", () => {
    expect(entriesAfterFromNewest({ newest: newestFirst(50, 40), cursor: 30 })).toBeNull();
  });

  it("is null when the new entries exceed one batch (the store pages them)", () => {
    const times = Array.from({ length: INSIGHT_BATCH_SIZE + 1 }, (_, index) => 100 + index);
    expect(entriesAfterFromNewest({ newest: newestFirst(...times, 10), cursor: 50 })).toBeNull();
  });

  it("is null without entries, or with none after the cursor", () => {
    expect(entriesAfterFromNewest({ newest: [], cursor: 0 })).toBeNull();
    expect(entriesAfterFromNewest({ newest: newestFirst(20, 10), cursor: 30 })).toBeNull();
  });
});
