/**
 * Per-user LLM quotas: requests a minute, a day and a month, and a monthly cost budget. Windows
 * are UTC calendar windows, named by keys that sort by time. Pure: the store counts, this
 * decides.
 */

export interface QuotaLimits {
  perMinute: number;
  perDay: number;
  perMonth: number;
  /** USD per UTC month; null for no budget. */
  monthlyBudgetUsd: number | null;
}

export type QuotaWindow = "minute" | "day" | "month";

export interface WindowKeys {
  minute: string;
  day: string;
  month: string;
}

const pad = (value: number, width = 2) => String(value).padStart(width, "0");

export function windowKeys(now: number): WindowKeys {
  const date = new Date(now);
  const month = `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}`;
  const day = `${month}${pad(date.getUTCDate())}`;
  return { month, day, minute: `${day}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}` };
}

/** When a window that is full frees up: the start of the next one. */
export function windowResetsAt(window: QuotaWindow, now: number): number {
  const date = new Date(now);
  if (window === "minute") return Math.floor(now / 60_000) * 60_000 + 60_000;
  if (window === "day") return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

export type QuotaDecision =
  | { allowed: true }
  | { allowed: false; window: QuotaWindow | "budget"; retryAt: number; reason: string };

/** Over the monthly budget: no call until next month. */
export function checkBudget({
  monthCostUsd,
  limits,
  now,
}: {
  monthCostUsd: number;
  limits: QuotaLimits;
  now: number;
}): QuotaDecision {
  if (limits.monthlyBudgetUsd !== null && monthCostUsd >= limits.monthlyBudgetUsd) {
    return {
      allowed: false,
      window: "budget",
      retryAt: windowResetsAt("month", now),
      reason: `monthly LLM budget of $${limits.monthlyBudgetUsd} reached ($${monthCostUsd.toFixed(4)} spent)`,
    };
  }
  return { allowed: true };
}

export function overLimit(window: QuotaWindow, limit: number, now: number): QuotaDecision {
  return {
    allowed: false,
    window,
    retryAt: windowResetsAt(window, now),
    reason: `${limit} LLM requests per ${window} used`,
  };
}
