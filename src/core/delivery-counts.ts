/**
 * A user's delivery counters on their processing state: totals, last times, and one field per
 * channel and UTC day (`emailsSent_d20261130`), incremented by the delivery handler. Pure.
 */
import type { ProcessingState } from "./processing-state";

/** What the delivery handler counts per UTC day. */
export type DeliveryChannel = "emails" | "pushes";

const DELIVERY_DAY_FIELD = /^(emails|pushes)Sent_d(\d{8})$/;

/** The UTC day's key, `20261130`. */
export function utcDayKey(at: number): string {
  return new Date(at).toISOString().slice(0, 10).replaceAll("-", "");
}

/** The field counting one channel's sends on the UTC day of `at`: `emailsSent_d20261130`. */
export function deliveryDayField(channel: DeliveryChannel, at: number): string {
  return `${channel}Sent_d${utcDayKey(at)}`;
}

/** The per-day delivery counters of a stored state document (everything else is dropped). */
export function deliveryDayFieldsOf(document: Readonly<Record<string, unknown>>): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const [field, value] of Object.entries(document)) {
    if (DELIVERY_DAY_FIELD.test(field) && typeof value === "number" && Number.isFinite(value))
      fields[field] = value;
  }
  return fields;
}

/** A user's deliveries as the admin pages show them: totals, the last times, and today's (UTC) counts. */
export interface DeliveryCounts {
  totalEmailsSent: number;
  lastEmailSentAt: number | null;
  emailsSentToday: number;
  totalPushesSent: number;
  lastPushSentAt: number | null;
  pushesSentToday: number;
}

/** The state's delivery figures at `now`: today's count from today's field, older days' ignored. */
export function deliveryCounts(state: ProcessingState, now: number): DeliveryCounts {
  const today = (channel: DeliveryChannel) =>
    counterValue(state.deliveriesByDay[deliveryDayField(channel, now)]);
  return {
    totalEmailsSent: state.stats.emailsSent,
    lastEmailSentAt: state.stats.lastEmailSentAt,
    emailsSentToday: today("emails"),
    totalPushesSent: state.stats.pushesSent,
    lastPushSentAt: state.stats.lastPushSentAt,
    pushesSentToday: today("pushes"),
  };
}

function counterValue(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, value) : 0;
}
