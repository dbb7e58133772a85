import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadConfig, PROCESSOR_MAX_DURATION_SECONDS } from "@/config";
import {
  type BreakerSettings,
  type BreakerState,
  breakerAfterFailure,
  breakerGate,
  CLOSED_BREAKER,
  isProviderUnavailable,
  nextProbeAt,
  probeWindow,
} from "@/core/circuit-breaker";

const MINUTE = 60_000;
const NOW = Date.parse("2026-11-30T12:00:00Z");
const settings: BreakerSettings = {
  failureThreshold: 3,
  cooldownMs: 10 * MINUTE,
  probeTimeoutMs: 5 * MINUTE,
};
const open: BreakerState = {
  state: "open",
  consecutiveFailures: 3,
  openedAt: NOW,
  openUntil: NOW + settings.cooldownMs,
  lastFailureAt: NOW,
  lastError: "503",
};

describe("breakerGate", () => {
  it.each([
    ["no breaker document", "closed", null, NOW],
    ["a closed breaker", "closed", CLOSED_BREAKER, NOW],
    ["an open breaker in its cool-down", "open", open, NOW + settings.cooldownMs - 1],
    ["an open breaker at the end of its cool-down", "probe_due", open, NOW + settings.cooldownMs],
    ["an open breaker long after its cool-down", "probe_due", open, NOW + 30 * MINUTE],
  ] as const)("answers %s with %s", (_name, gate, breaker, now) => {
    expect(breakerGate({ breaker, now })).toBe(gate);
  });
});

describe("breakerAfterFailure", () => {
  it("stays closed below the threshold and opens at it", () => {
    const common = { breaker: CLOSED_BREAKER, now: NOW, error: "503", settings };
    expect(breakerAfterFailure({ ...common, failuresCounted: 2 })).toBeNull();
    expect(breakerAfterFailure({ ...common, failuresCounted: 3 })).toMatchObject({
      state: "open",
      openedAt: NOW,
      openUntil: NOW + settings.cooldownMs,
    });
  });

  it("re-opens for another cool-down when the probe fails", () => {
    const later = NOW + 11 * MINUTE;
    expect(
      breakerAfterFailure({ breaker: open, failuresCounted: 4, now: later, error: "503", settings }),
    ).toMatchObject({ state: "open", openedAt: later, openUntil: later + settings.cooldownMs });
  });
});

describe("probeWindow", () => {
  it("has no probe window while closed or cooling down", () => {
    expect(probeWindow({ breaker: null, now: NOW, settings })).toBeNull();
    expect(probeWindow({ breaker: CLOSED_BREAKER, now: NOW, settings })).toBeNull();
    expect(probeWindow({ breaker: open, now: NOW + settings.cooldownMs - 1, settings })).toBeNull();
  });

  it("starts a new window, with a new claim id, every probeTimeoutMs after the cool-down", () => {
    const openUntil = NOW + settings.cooldownMs;
    const first = probeWindow({ breaker: open, now: openUntil, settings });
    expect(first).toEqual({
      claimId: `${NOW}_0`,
      startsAt: openUntil,
      endsAt: openUntil + settings.probeTimeoutMs,
    });
    expect(probeWindow({ breaker: open, now: openUntil + settings.probeTimeoutMs - 1, settings })).toEqual(
      first,
    );
    expect(probeWindow({ breaker: open, now: openUntil + settings.probeTimeoutMs, settings })).toEqual({
      claimId: `${NOW}_1`,
      startsAt: openUntil + settings.probeTimeoutMs,
      endsAt: openUntil + 2 * settings.probeTimeoutMs,
    });
  });

  it("gives every instant after the cool-down a window that contains it, ids unique per opening", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 * 24 * 60 * MINUTE }),
        fc.integer({ min: 1, max: 60 * MINUTE }),
        (elapsed, probeTimeoutMs) => {
          const now = NOW + settings.cooldownMs + elapsed;
          const window = probeWindow({ breaker: open, now, settings: { ...settings, probeTimeoutMs } });
          expect(window).not.toBeNull();
          if (!window) return;
          expect(window.startsAt).toBeLessThanOrEqual(now);
          expect(window.endsAt).toBeGreaterThan(now);
          expect(window.endsAt - window.startsAt).toBe(probeTimeoutMs);
          expect(window.claimId.startsWith(`${NOW}_`)).toBe(true);
        },
      ),
    );
  });
});

describe("nextProbeAt", () => {
  const openUntil = NOW + settings.cooldownMs;

  it.each([
    ["closed: no probe needed", CLOSED_BREAKER, NOW, false, null],
    ["cooling down: at the end of the cool-down", open, NOW + MINUTE, false, openUntil],
    ["cool-down over, nobody probing: now", open, openUntil + MINUTE, false, openUntil + MINUTE],
    [
      "a probe in flight: when its window ends",
      open,
      openUntil + MINUTE,
      true,
      openUntil + settings.probeTimeoutMs,
    ],
  ] as const)("%s", (_name, breaker, now, probeInFlight, expected) => {
    expect(nextProbeAt({ breaker, now, settings, probeInFlight })).toBe(expected);
  });
});

describe("breaker configuration", () => {
  const base = { NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo" } as const;

  it("times a probe out after the processor's maxDuration by default, and takes BREAKER_PROBE_TIMEOUT_MS", () => {
    expect(loadConfig(base).processor.breaker).toEqual({
      failureThreshold: 20,
      cooldownMs: 300_000,
      probeTimeoutMs: PROCESSOR_MAX_DURATION_SECONDS * 1_000,
    });
    expect(loadConfig({ ...base, BREAKER_PROBE_TIMEOUT_MS: "600000" }).processor.breaker.probeTimeoutMs).toBe(
      600_000,
    );
  });

  it("refuses a cool-down above an hour and a probe window above three processor runs, naming the variable", () => {
    expect(() => loadConfig({ ...base, BREAKER_COOLDOWN_MS: "3600001" })).toThrow(/BREAKER_COOLDOWN_MS/);
    expect(loadConfig({ ...base, BREAKER_COOLDOWN_MS: "3600000" }).processor.breaker.cooldownMs).toBe(
      3_600_000,
    );
    expect(() => loadConfig({ ...base, BREAKER_PROBE_TIMEOUT_MS: "900001" })).toThrow(
      /BREAKER_PROBE_TIMEOUT_MS/,
    );
    expect(loadConfig({ ...base, BREAKER_PROBE_TIMEOUT_MS: "900000" }).processor.breaker.probeTimeoutMs).toBe(
      900_000,
    );
  });

  it("refuses a probe timeout that is not a positive whole number, naming the variable", () => {
    expect(() => loadConfig({ ...base, BREAKER_PROBE_TIMEOUT_MS: "0" })).toThrow(/BREAKER_PROBE_TIMEOUT_MS/);
    expect(() => loadConfig({ ...base, BREAKER_PROBE_TIMEOUT_MS: "soon" })).toThrow(
      /BREAKER_PROBE_TIMEOUT_MS/,
    );
  });
});

describe("isProviderUnavailable", () => {
  it.each([
    ["a rate limit", { retriable: true, statusCode: 429 }, true],
    ["a 503", { retriable: true, statusCode: 503 }, true],
    ["a 500", { retriable: true, statusCode: 500 }, true],
    ["a request timeout", { retriable: true, statusCode: 408 }, true],
    ["a bad request", { retriable: false, statusCode: 400 }, false],
    ["a rejected key", { retriable: false, statusCode: 401 }, false],
    ["output that missed the schema", { retriable: true, statusCode: null }, false],
    ["a timeout the adapter names", { retriable: true, statusCode: null, providerUnavailable: true }, true],
    [
      "a 5xx the adapter knows better of",
      { retriable: true, statusCode: 503, providerUnavailable: false },
      false,
    ],
  ] as const)("%s: %s", (_case, failure, expected) => {
    expect(isProviderUnavailable(failure)).toBe(expected);
  });
});
