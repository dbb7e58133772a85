import { describe, expect, it } from "vitest";
import { livenessStatus, SCHEDULER_STALE_AFTER_MS } from "@/core/liveness";

const now = Date.parse("2026-11-30T12:00:00Z");
const run = { startedAt: now - 10 * 60_000, status: "completed", breakerOpen: false };

describe("livenessStatus", () => {
  it.each([
    ["a run 10 minutes ago that completed with the breaker closed", run, "ok"],
    ["a run still running", { ...run, status: "running" }, "ok"],
    ["a run exactly 2 h ago", { ...run, startedAt: now - SCHEDULER_STALE_AFTER_MS }, "ok"],
    [
      "no run for over 2 h (the cron stopped)",
      { ...run, startedAt: now - SCHEDULER_STALE_AFTER_MS - 1 },
      "degraded",
    ],
    ["no run ever", null, "degraded"],
    ["a run a minute ahead (clocks of two instances)", { ...run, startedAt: now + 60_000 }, "ok"],
    // Always the newest, it would otherwise answer ok for as long as it exists, cron stopped or not.
    [
      "a newest run dated a day ahead (junk or a wrong clock)",
      { ...run, startedAt: now + 86_400_000 },
      "degraded",
    ],
    ["a newest run that failed", { ...run, status: "failed" }, "degraded"],
    ["a newest run that found the LLM breaker open", { ...run, breakerOpen: true }, "degraded"],
  ] as const)("%s → %s", (_case, latestRun, expected) => {
    expect(livenessStatus({ latestRun, now })).toBe(expected);
  });
});
