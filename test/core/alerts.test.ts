import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { alertId, planAlerts, sortAlertsForDisplay } from "@/core/alert-lifecycle";
import { ALERT_TEXT_MAX_LENGTH, alertText } from "@/core/alert-text";
import {
  ALERT_CONDITIONS,
  ALERT_THRESHOLDS,
  type AlertCondition,
  type AlertFigures,
  type AlertMemory,
  type ConditionVerdict,
  EMPTY_ALERT_MEMORY,
  evaluateConditions,
  memoryPatch,
  nextAlertMemory,
} from "@/core/alerts";
import { HOUR_MS, HOUR_SETTLED_AFTER_MS, hourKey, hourStartOf } from "@/core/metrics-hours";

const NOW = Date.parse("2026-11-30T09:20:00.000Z");
const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) });
const condition = fc.constantFrom(...ALERT_CONDITIONS);
const ok = <Value>(value: Value) => ({ ok: true as const, value });

/** Figures of a healthy engine at `now`. */
function healthy(now: number): AlertFigures {
  return {
    lastHour: ok({ attempts: 100, failed: 1 }),
    deadLetters: ok(3),
    oldestReadyAt: ok(now - 60_000),
    breakerOpen: ok(false),
    latestSchedulerRunAt: ok(now - 10 * 60_000),
    ceilingMinutes: ok([{ calls: 10, limit: 100 }]),
    acuteRiskLastHour: ok(0),
    newestMetricsHour: ok({ hourStart: hourStartOf(now) - HOUR_MS, countsFailed: [] }),
  };
}

const verdictOf = (overrides: Partial<AlertFigures>, memory: AlertMemory = EMPTY_ALERT_MEMORY, now = NOW) =>
  evaluateConditions({ figures: { ...healthy(now), ...overrides }, memory, now });

const verdict = fc.oneof(
  fc.constant<ConditionVerdict>({ state: "inactive" }),
  fc.constant<ConditionVerdict>({ state: "unknown" }),
  fc.string({ maxLength: 40 }).map((summary): ConditionVerdict => ({ state: "active", summary })),
);
const verdicts = fc.record(
  Object.fromEntries(ALERT_CONDITIONS.map((name) => [name, verdict])) as Record<
    AlertCondition,
    typeof verdict
  >,
);
const openAlerts = fc.uniqueArray(
  fc.record({ condition, hour: fc.integer({ min: 0, max: 5 }) }).map(({ condition: name, hour }) => ({
    id: alertId(name, NOW - hour * HOUR_MS),
    condition: name,
  })),
  { selector: (alert) => alert.id, maxLength: 10 },
);

describe("conditions", () => {
  it("a healthy engine has no active condition", () => {
    const all = verdictOf({});
    for (const name of ALERT_CONDITIONS) expect(all[name].state, name).toBe("inactive");
  });

  it.each([
    [{ attempts: 100, failed: 6 }, "active"],
    [{ attempts: 100, failed: 5 }, "inactive"],
    [{ attempts: ALERT_THRESHOLDS.failureMinAttempts - 1, failed: 10 }, "inactive"],
    [{ attempts: ALERT_THRESHOLDS.failureMinAttempts, failed: 2 }, "active"],
  ] as const)("the failure rate of %o is %s", (lastHour, state) => {
    expect(verdictOf({ lastHour: ok(lastHour) }).failure_rate.state).toBe(state);
  });

  it("fires above 5 % of at least the minimum count, whatever the figures", () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), fc.nat({ max: 10_000 }), (attempts, failedRaw) => {
        const failed = Math.min(failedRaw, attempts);
        const active = verdictOf({ lastHour: ok({ attempts, failed }) }).failure_rate.state === "active";
        expect(active).toBe(attempts >= ALERT_THRESHOLDS.failureMinAttempts && failed / attempts > 0.05);
      }),
    );
  });

  it("names how long the oldest ready event has waited past 15 minutes, not at it", () => {
    expect(verdictOf({ oldestReadyAt: ok(NOW - 15 * 60_000) }).outbox_backlog.state).toBe("inactive");
    expect(verdictOf({ oldestReadyAt: ok(NOW - 16 * 60_000) }).outbox_backlog).toEqual({
      state: "active",
      summary: "the oldest ready outbox event has waited 16 min",
    });
    expect(verdictOf({ oldestReadyAt: ok(null) }).outbox_backlog.state).toBe("inactive");
  });

  it("is stale 2 h after the last scheduler run, or 2 h after the first evaluation when none ran", () => {
    expect(verdictOf({ latestSchedulerRunAt: ok(NOW - 2 * HOUR_MS - 1) }).scheduler_stale.state).toBe(
      "active",
    );
    expect(verdictOf({ latestSchedulerRunAt: ok(NOW - 2 * HOUR_MS) }).scheduler_stale.state).toBe("inactive");
    const firstSeen = { ...EMPTY_ALERT_MEMORY, firstEvaluatedAt: NOW - 3 * HOUR_MS };
    expect(verdictOf({ latestSchedulerRunAt: ok(null) }, firstSeen).scheduler_stale.state).toBe("active");
    expect(verdictOf({ latestSchedulerRunAt: ok(null) }).scheduler_stale.state).toBe("inactive");
  });

  it("finds the ceiling saturated in 4 of the last 5 minutes, never without a ceiling", () => {
    const minutes = (full: number) =>
      Array.from({ length: 5 }, (_, index) => ({ calls: index < full ? 100 : 99, limit: 100 }));
    expect(verdictOf({ ceilingMinutes: ok(minutes(4)) }).llm_ceiling_saturated.state).toBe("active");
    expect(verdictOf({ ceilingMinutes: ok(minutes(3)) }).llm_ceiling_saturated.state).toBe("inactive");
    expect(verdictOf({ ceilingMinutes: ok(null) }).llm_ceiling_saturated.state).toBe("inactive");
  });

  it("fires acute_risk on any acute-risk attempt in the last hour, with a count and no user", () => {
    const active = verdictOf({ acuteRiskLastHour: ok(2) }).acute_risk;
    expect(active).toEqual({
      state: "active",
      summary: "2 generation attempts in the last hour read acute risk in a user's entries",
    });
    expect(verdictOf({ acuteRiskLastHour: ok(0) }).acute_risk.state).toBe("inactive");
  });

  it("fires metrics_counts_failing on the newest rolled-up hour's marker, naming the hour and what failed", () => {
    const hourStart = Date.parse("2026-11-30T08:00:00.000Z");
    expect(
      verdictOf({ newestMetricsHour: ok({ hourStart, countsFailed: ["usersByFlag"] }) })
        .metrics_counts_failing,
    ).toEqual({
      state: "active",
      summary:
        "the metrics rollup could not count users by the enable flag for the hour 2026-11-30T08 (is the coachingEnabled + suspendUntil index deployed?)",
    });
    expect(
      verdictOf({ newestMetricsHour: ok({ hourStart, countsFailed: ["snapshot"] }) }).metrics_counts_failing,
    ).toEqual({
      state: "active",
      summary:
        'the metrics rollup could not take the users snapshot for the hour 2026-11-30T08 (see the "metrics snapshot unreadable" log lines)',
    });
  });

  it("leaves metrics_counts_failing inactive on an hour that counted, one written before the marker, and none at all", () => {
    const hourStart = Date.parse("2026-11-30T08:00:00.000Z");
    // An hour written by an older version reads with no marker (`countsFailed: []`), whatever its
    // snapshot lacks: only the marker says a count failed.
    expect(
      verdictOf({ newestMetricsHour: ok({ hourStart, countsFailed: [] }) }).metrics_counts_failing,
    ).toEqual({ state: "inactive" });
    expect(verdictOf({ newestMetricsHour: ok(null) }).metrics_counts_failing.state).toBe("inactive");
  });

  it("fires metrics_counts_failing when the rollup has written no hour for over 3 hours (it fails whole, e.g. an index of the hour's counts missing)", () => {
    const settled = hourStartOf(NOW - HOUR_SETTLED_AFTER_MS) - HOUR_MS;
    expect(
      verdictOf({ newestMetricsHour: ok({ hourStart: settled - 3 * HOUR_MS, countsFailed: [] }) })
        .metrics_counts_failing.state,
    ).toBe("inactive");
    const stopped = settled - 4 * HOUR_MS;
    expect(
      verdictOf({ newestMetricsHour: ok({ hourStart: stopped, countsFailed: ["snapshot"] }) })
        .metrics_counts_failing,
    ).toEqual({
      state: "active",
      summary: `the metrics rollup has written no hour since ${hourKey(stopped)} (see the "metrics rollup failed" log lines)`,
    });
  });

  it("an unreadable figure leaves its condition unknown, never active nor inactive", () => {
    const unread = verdictOf({
      lastHour: { ok: false },
      deadLetters: { ok: false },
      oldestReadyAt: { ok: false },
      breakerOpen: { ok: false },
      latestSchedulerRunAt: { ok: false },
      ceilingMinutes: { ok: false },
      acuteRiskLastHour: { ok: false },
      newestMetricsHour: { ok: false },
    });
    for (const name of ALERT_CONDITIONS.filter((entry) => entry !== "ticks_undrained")) {
      expect(unread[name].state, name).toBe("unknown");
    }
  });
});

describe("memory between evaluations", () => {
  it("dead letters grow against the last count, and the condition holds 30 minutes after growth", () => {
    const first = nextAlertMemory({
      memory: EMPTY_ALERT_MEMORY,
      figures: { deadLetters: ok(4) },
      chainEnd: null,
      now: NOW,
    });
    expect(first).toMatchObject({ deadLetters: 4, deadLettersGrewAt: null, firstEvaluatedAt: NOW });
    const grown = nextAlertMemory({
      memory: first,
      figures: { deadLetters: ok(7) },
      chainEnd: null,
      now: NOW + 1,
    });
    expect(grown).toMatchObject({ deadLetters: 7, deadLettersGrewAt: NOW + 1, deadLettersGrewBy: 3 });
    expect(verdictOf({ deadLetters: ok(7) }, grown, NOW + 1).dead_letters_growing).toEqual({
      state: "active",
      summary: "dead letters grew by 3 to 7",
    });
    const later = NOW + 1 + ALERT_THRESHOLDS.deadLetterGrowthHoldMs;
    const quiet = nextAlertMemory({
      memory: grown,
      figures: { deadLetters: ok(7) },
      chainEnd: null,
      now: later,
    });
    expect(verdictOf({ deadLetters: ok(7) }, quiet, later).dead_letters_growing.state).toBe("inactive");
  });

  it("counts each chain's end once, and a drained chain resets the streak", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ chain: fc.integer({ min: 0, max: 6 }), undrained: fc.boolean() }), {
          maxLength: 30,
        }),
        (ends) => {
          let memory = EMPTY_ALERT_MEMORY;
          const streakOf: boolean[] = [];
          let last: number | null = null;
          for (const end of ends) {
            memory = nextAlertMemory({
              memory,
              figures: { deadLetters: { ok: false } },
              chainEnd: { chainId: `cron_${end.chain}`, undrained: end.undrained },
              now: NOW,
            });
            // A model: the same chain seen again in a row is one end.
            if (end.chain !== last) streakOf.push(end.undrained);
            last = end.chain;
          }
          const trailing = streakOf.length - 1 - streakOf.lastIndexOf(false);
          expect(memory.undrained.streak).toBe(
            streakOf.lastIndexOf(false) === -1 ? streakOf.length : trailing,
          );
        },
      ),
    );
  });

  it("fires undrained ticks at the third chain in a row", () => {
    let memory = EMPTY_ALERT_MEMORY;
    const states: string[] = [];
    for (const chain of ["cron_a", "cron_b", "cron_c"]) {
      memory = nextAlertMemory({
        memory,
        figures: { deadLetters: ok(0) },
        chainEnd: { chainId: chain, undrained: true },
        now: NOW,
      });
      states.push(verdictOf({}, memory).ticks_undrained.state);
    }
    expect(states).toEqual(["inactive", "inactive", "active"]);
  });

  it("writes only the fields an evaluation changed", () => {
    const before = { ...EMPTY_ALERT_MEMORY, firstEvaluatedAt: NOW, deadLetters: 2 };
    const after = nextAlertMemory({
      memory: before,
      figures: { deadLetters: ok(2) },
      chainEnd: { chainId: "cron_2026-11-30T09", undrained: true },
      now: NOW + 1,
    });
    expect(memoryPatch(before, after)).toEqual({
      undrained: { lastChainId: "cron_2026-11-30T09", streak: 1 },
    });
  });

  it("an evaluation that learns nothing new changes nothing (and writes nothing)", () => {
    fc.assert(
      fc.property(instant, fc.nat({ max: 1_000 }), (now, deadLetters) => {
        const once = nextAlertMemory({
          memory: EMPTY_ALERT_MEMORY,
          figures: { deadLetters: ok(deadLetters) },
          chainEnd: { chainId: "cron_x", undrained: false },
          now,
        });
        const twice = nextAlertMemory({
          memory: once,
          figures: { deadLetters: ok(deadLetters) },
          chainEnd: { chainId: "cron_x", undrained: false },
          now: now + 1,
        });
        expect(memoryPatch(once, twice)).toEqual({});
      }),
    );
  });
});

describe("alert transitions", () => {
  it("fires one alert per active condition without an open one, resolves open ones whose condition cleared", () => {
    fc.assert(
      fc.property(verdicts, openAlerts, (all, open) => {
        const plan = planAlerts({ verdicts: all, openAlerts: open, now: NOW });
        for (const name of ALERT_CONDITIONS) {
          const fired = plan.fire.filter((alert) => alert.condition === name);
          const hasOpen = open.some((alert) => alert.condition === name);
          expect(fired.length).toBe(all[name].state === "active" && !hasOpen ? 1 : 0);
          for (const alert of fired) expect(alert.id).toBe(`${name}_${hourKey(NOW)}`);
        }
        for (const resolved of plan.resolve) expect(all[resolved.condition].state).toBe("inactive");
        expect(plan.resolve.length).toBe(
          open.filter((alert) => all[alert.condition].state === "inactive").length,
        );
      }),
    );
  });

  it("is deterministic: the same inputs, the same plan, whatever the order of the open alerts", () => {
    fc.assert(
      fc.property(verdicts, openAlerts, (all, open) => {
        const forward = planAlerts({ verdicts: all, openAlerts: open, now: NOW });
        const backward = planAlerts({ verdicts: all, openAlerts: [...open].reverse(), now: NOW });
        expect(backward).toEqual(forward);
      }),
    );
  });

  it("keeps an alert reopened within its hour open till the hour is out (a flapping condition posts at most four times)", () => {
    const inactive = Object.fromEntries(
      ALERT_CONDITIONS.map((name) => [name, { state: "inactive" }]),
    ) as Record<AlertCondition, ConditionVerdict>;
    const reopened = {
      id: alertId("llm_breaker_open", NOW),
      condition: "llm_breaker_open" as const,
      reopenedAt: NOW,
    };
    expect(planAlerts({ verdicts: inactive, openAlerts: [reopened], now: NOW + 60_000 }).resolve).toEqual([]);
    expect(planAlerts({ verdicts: inactive, openAlerts: [reopened], now: NOW + HOUR_MS }).resolve).toEqual([
      { id: reopened.id, condition: "llm_breaker_open", transition: "resolved_after_reopen" },
    ]);
    expect(
      planAlerts({ verdicts: inactive, openAlerts: [{ ...reopened, reopenedAt: null }], now: NOW + 60_000 })
        .resolve,
    ).toEqual([{ id: reopened.id, condition: "llm_breaker_open", transition: "resolved" }]);
  });

  it("gives one id per condition per UTC hour", () => {
    fc.assert(
      fc.property(condition, instant, fc.integer({ min: 0, max: HOUR_MS - 1 }), (name, at, offset) => {
        const start = Math.floor(at / HOUR_MS) * HOUR_MS;
        expect(alertId(name, start + offset)).toBe(alertId(name, start));
        expect(alertId(name, start + HOUR_MS)).not.toBe(alertId(name, start));
        expect(alertId(name, start)).toMatch(/^[a-z_]+_\d{4}-\d{2}-\d{2}T\d{2}$/);
      }),
    );
  });
});

describe("posted text and display order", () => {
  it("holds the condition, the figures and the id, within Slack's size, and nothing else", () => {
    fc.assert(
      fc.property(condition, fc.string({ maxLength: 2_000 }), (name, summary) => {
        const alert = { id: alertId(name, NOW), condition: name, summary, firedAt: NOW };
        for (const transition of ["fired", "resolved", "reopened", "resolved_after_reopen"] as const) {
          const text = alertText({
            alert,
            transition,
            dashboardUrl: "https://engine.example/admin",
            now: NOW,
          });
          expect(text.length).toBeLessThanOrEqual(ALERT_TEXT_MAX_LENGTH);
          expect(text.startsWith("[coaching-engine] ")).toBe(true);
        }
      }),
    );
    expect(
      alertText({
        alert: {
          id: "failure_rate_2026-11-30T09",
          condition: "failure_rate",
          summary: "10 % failed",
          firedAt: NOW,
        },
        transition: "fired",
        dashboardUrl: "https://engine.example/admin",
        now: NOW,
      }),
    ).toBe(
      "[coaching-engine] ALERT Generation failure rate over 5 %: 10 % failed. Fired 2026-11-30T09:20Z (failure_rate_2026-11-30T09). https://engine.example/admin",
    );
  });

  it("lists open alerts first, then the newest", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ id: fc.string(), status: fc.constantFrom("open", "resolved"), firedAt: instant }),
        ),
        (alerts) => {
          const sorted = sortAlertsForDisplay(alerts);
          const firstResolved = sorted.findIndex((alert) => alert.status === "resolved");
          if (firstResolved !== -1) {
            expect(sorted.slice(firstResolved).every((alert) => alert.status === "resolved")).toBe(true);
          }
          expect(sorted).toHaveLength(alerts.length);
        },
      ),
    );
  });
});
