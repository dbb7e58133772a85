/**
 * A flapping condition, evaluated at random moments over several hours, against an in-memory
 * alert store with the Firestore store's create() semantics: at most four posts per condition
 * per alert (fired, resolved, reopened, resolved after the reopening), never RESOLVED as the last
 * word while the alert is open, and never an active condition without an open alert.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import type { AlertRecord } from "@/core/alert-lifecycle";
import { type AlertFigures, type AlertMemory, EMPTY_ALERT_MEMORY } from "@/core/alerts";
import type { EventRecord } from "@/core/events";
import type { AlertSignals, AlertStore } from "@/pipeline/alert-ports";
import { evaluateAlerts } from "@/pipeline/evaluate-alerts";

const START = Date.parse("2026-11-30T09:00:00.000Z");

function inMemoryAlerts() {
  const alerts = new Map<string, AlertRecord>();
  const posts: { id: string; transition: string; at: number }[] = [];
  const events = new Set<string>();
  let memory: AlertMemory = structuredClone(EMPTY_ALERT_MEMORY);
  const post = (notification: EventRecord | null) => {
    if (!notification) return true;
    if (events.has(notification.id)) return false;
    events.add(notification.id);
    posts.push({
      id: notification.id,
      transition: String(notification.payload.transition),
      at: notification.created_at,
    });
    return true;
  };
  const store: AlertStore = {
    readOpenAlerts: async () => [...alerts.values()].filter((alert) => alert.status === "open"),
    readMemory: async () => structuredClone(memory),
    saveMemory: async (patch) => {
      memory = { ...memory, ...structuredClone(patch) };
    },
    fireAlert: async ({ alert, notification }) => {
      if (alerts.has(alert.id)) return "exists";
      alerts.set(alert.id, { ...alert });
      post(notification);
      return "created";
    },
    reopenAlert: async ({ id, summary, now, notification }) => {
      const alert = alerts.get(id);
      if (alert?.status !== "resolved" || !post(notification)) return false;
      Object.assign(alert, { status: "open", resolvedAt: null, reopenedAt: now, summary });
      return true;
    },
    resolveAlert: async ({ id, now, notification }) => {
      post(notification);
      Object.assign(alerts.get(id) ?? {}, { status: "resolved", resolvedAt: now });
    },
    listAlerts: async () => [...alerts.values()],
  };
  return { store, alerts, posts };
}

it("posts a flapping condition at most four times an alert, and never leaves RESOLVED as the last word on an open alert", async () => {
  await fc.assert(
    fc.asyncProperty(
      // Evaluations 1-15 minutes apart over up to ~6 hours, each seeing the breaker open or closed.
      fc.array(fc.record({ gapMinutes: fc.integer({ min: 1, max: 15 }), open: fc.boolean() }), {
        minLength: 1,
        maxLength: 30,
      }),
      async (steps) => {
        const { store, alerts, posts } = inMemoryAlerts();
        let breakerOpen = false;
        const signals: AlertSignals = {
          read: async (now): Promise<AlertFigures> => ({
            lastHour: { ok: true, value: { attempts: 0, failed: 0 } },
            deadLetters: { ok: true, value: 0 },
            oldestReadyAt: { ok: true, value: null },
            breakerOpen: { ok: true, value: breakerOpen },
            latestSchedulerRunAt: { ok: true, value: now - 60_000 },
            ceilingMinutes: { ok: true, value: null },
            acuteRiskLastHour: { ok: true, value: 0 },
            newestMetricsHour: { ok: true, value: null },
          }),
        };
        let now = START;
        for (const step of steps) {
          now += step.gapMinutes * 60_000;
          breakerOpen = step.open;
          await evaluateAlerts({
            store,
            signals,
            now,
            posting: { dashboardUrl: "https://engine.example/admin" },
          });
          const open = [...alerts.values()].filter((alert) => alert.status === "open");
          expect(open.length).toBe(breakerOpen ? 1 : open.length);
          if (open.length > 0) {
            expect(posts.at(-1)?.transition).toMatch(/^(fired|reopened)$/);
          }
        }
        for (const alert of alerts.values()) {
          const ofAlert = posts.filter((entry) => entry.id.startsWith(`alert.notification_${alert.id}_`));
          expect(ofAlert.length).toBeLessThanOrEqual(4);
        }
        const perHour = new Map<number, number>();
        for (const entry of posts) {
          const hour = Math.floor(entry.at / 3_600_000);
          perHour.set(hour, (perHour.get(hour) ?? 0) + 1);
        }
        for (const count of perHour.values()) expect(count).toBeLessThanOrEqual(4);
      },
    ),
    { numRuns: 300 },
  );
});
