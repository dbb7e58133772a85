import { describe, expect, it, vi } from "vitest";
import type { AppConfig } from "@/config";
import type { LatestSchedulerRun } from "@/core/liveness";

// The route needs no auth: what it costs under a flood is the number of these reads.
const reads = vi.hoisted(() => ({
  count: 0,
  release: [] as Array<(run: LatestSchedulerRun | null) => void>,
}));

vi.mock("@/adapters/firestore/client", () => ({ getDb: () => ({}) }));
vi.mock("@/adapters/firestore/liveness-store", () => ({
  readLatestSchedulerRun: () => {
    reads.count += 1;
    return new Promise<LatestSchedulerRun | null>((resolve) => reads.release.push(resolve));
  },
}));

const { engineLiveness } = await import("@/services/liveness");

const config = {} as AppConfig;

describe("engineLiveness under a flood", () => {
  it("reads once for requests that arrive while the read is in flight, and answers them all from it", async () => {
    const now = 1_800_000_000_000;
    const answers = Promise.all(Array.from({ length: 50 }, () => engineLiveness(config, now)));
    await vi.waitFor(() => expect(reads.release.length).toBeGreaterThan(0));
    for (const release of reads.release.splice(0))
      release({ startedAt: now - 60_000, status: "completed", breakerOpen: false });
    expect(await answers).toEqual(Array(50).fill("ok"));
    expect(reads.count).toBe(1);
    // Within the 30 s the answer is kept, no read at all; after it, one again.
    expect(await engineLiveness(config, now + 29_000)).toBe("ok");
    expect(reads.count).toBe(1);
    const later = Promise.all([engineLiveness(config, now + 31_000), engineLiveness(config, now + 31_001)]);
    await vi.waitFor(() => expect(reads.release.length).toBeGreaterThan(0));
    for (const release of reads.release.splice(0)) release(null);
    expect(await later).toEqual(["degraded", "degraded"]);
    expect(reads.count).toBe(2);
  });
});

describe("engineLiveness on a read that never answers", () => {
  it("answers degraded after 5 s instead of holding every request on the shared read", async () => {
    vi.useFakeTimers();
    try {
      vi.spyOn(console, "warn").mockImplementation(() => {});
      const now = 1_900_000_000_000;
      const answer = engineLiveness(config, now);
      const waiting = engineLiveness(config, now + 1);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(await answer).toBe("degraded");
      expect(await waiting).toBe("degraded");
      reads.release.splice(0);
    } finally {
      vi.useRealTimers();
      vi.restoreAllMocks();
    }
  });
});
