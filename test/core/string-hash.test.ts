import { describe, expect, it } from "vitest";
import { dueRank } from "@/core/due-rank";
import { shardOrder } from "@/core/llm-ceiling";
import { cyrb53Halves } from "@/core/string-hash";

// Values recorded from the two copies of cyrb53 that due-rank.ts and llm-ceiling.ts held before
// they shared core/string-hash.ts: stored ranks and shard choices must not move.
describe("the shared string hash", () => {
  it("gives cyrb53's halves", () => {
    expect(cyrb53Halves("")).toEqual({ h1: 451841411, h2: 1217125560 });
    expect(cyrb53Halves("user-1_1700000000000")).toEqual({ h1: -1304325288, h2: 783943808 });
  });

  it("keeps the due ranks and shard orders it gave before", () => {
    expect(dueRank({ uid: "user-1", dueAt: 1_700_000_000_000 })).toBe(0.5027199730616303);
    expect(dueRank({ uid: "user-1", dueAt: 1_700_000_000_000, missedWindows: 2 })).toBe(-1.4972800269383697);
    expect(shardOrder("user-1", 20)).toEqual([9, 7, 2]);
    expect(shardOrder("user-2", 20, 3)).toEqual([3, 9, 14]);
  });
});
