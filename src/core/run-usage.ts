/**
 * A user's LLM usage, kept on their processing state (one document per user) rather than in
 * documents of its own, so a processor run reads it with the state it reads anyway and records it
 * in the state write that ends the run: no read and no write of its own.
 *
 * Each pool (calls on the user's own key, calls on the engine's default key) counts its requests,
 * tokens and cost per UTC month and day, and its requests per UTC minute, in top-level fields
 * named by pool, window and key (`usage_default_m202611_cost`, `usage_user_d20261130_requests`,
 * `usage_default_t202611301230_requests`): top level because they are incremented and the
 * Firestore emulator cannot increment inside a map; named by their window's key so an increment
 * never needs a read (a new window starts at 0 in a new field), and two writers at once (a run and
 * an insights event) both count. A write drops the fields of the pool's earlier windows it saw, so
 * a state holds one month, one day and one minute per pool (plus, briefly, the windows a
 * concurrent writer opened). Pure: the stores apply the change.
 */
import {
  checkBudget,
  overLimit,
  type QuotaDecision,
  type QuotaLimits,
  type QuotaWindow,
  windowKeys,
} from "./quota";

export type UsagePool = "user" | "default";

export const USAGE_COUNTERS = ["requests", "inputTokens", "outputTokens", "cost"] as const;
export type UsageCounter = (typeof USAGE_COUNTERS)[number];

export interface UsageWindowCount {
  window: QuotaWindow;
  /** The window's key (`202611`, `20261130`, `202611301230`), as core/quota.ts `windowKeys` names it. */
  key: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** USD, as the provider reported it. */
  cost: number;
}

export interface PoolUsage {
  minute: UsageWindowCount;
  day: UsageWindowCount;
  month: UsageWindowCount;
}

/** What one run (or insights event) used on one pool. */
export interface RunAmounts {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

/** Additions to usage fields and fields to drop, as one state write applies them. */
export interface UsageChange {
  increment: Record<string, number>;
  remove: string[];
}

const WINDOW_PREFIX: Readonly<Record<QuotaWindow, string>> = { month: "m", day: "d", minute: "t" };
const FIELD = /^usage_(user|default)_([mdt])(\d{6,12})_(requests|inputTokens|outputTokens|cost)$/;

/** Whether a stored field is a usage counter: the state keeps these apart from its other fields. */
export function isUsageField(field: string): boolean {
  return FIELD.test(field);
}

/** The field of one pool's counter in one window. */
export function usageField(pool: UsagePool, window: QuotaWindow, key: string, counter: UsageCounter): string {
  return `usage_${pool}_${WINDOW_PREFIX[window]}${key}_${counter}`;
}

const count = (value: unknown) =>
  typeof value === "number" && Number.isFinite(value) ? Math.max(0, value) : 0;

/** The pool's usage at `now` from the state's usage fields: 0 for a window with no field yet. */
export function poolUsage(fields: Readonly<Record<string, number>>, pool: UsagePool, now: number): PoolUsage {
  const keys = windowKeys(now);
  const window = (name: QuotaWindow): UsageWindowCount => {
    const key = keys[name];
    const read = (counter: UsageCounter) => count(fields[usageField(pool, name, key, counter)]);
    return {
      window: name,
      key,
      requests: read("requests"),
      inputTokens: read("inputTokens"),
      outputTokens: read("outputTokens"),
      cost: read("cost"),
    };
  };
  return { minute: window("minute"), day: window("day"), month: window("month") };
}

/**
 * Whether a run of `calls` fits the pool's limits and budget, against the usage recorded so far.
 * It reserves nothing: runs of one user that overlap (rare; a user's slot runs are serialised by
 * the lease) may each pass and together overshoot a window by the calls of the runs in flight.
 */
export function decideRunAdmission({
  usage,
  limits,
  calls,
  now,
}: {
  usage: PoolUsage;
  limits: QuotaLimits;
  calls: number;
  now: number;
}): QuotaDecision {
  const budget = checkBudget({ monthCostUsd: usage.month.cost, limits, now });
  if (!budget.allowed) return budget;
  if (usage.minute.requests + calls > limits.perMinute) return overLimit("minute", limits.perMinute, now);
  if (usage.day.requests + calls > limits.perDay) return overLimit("day", limits.perDay, now);
  if (usage.month.requests + calls > limits.perMonth) return overLimit("month", limits.perMonth, now);
  return { allowed: true };
}

/**
 * The change that records `amounts` on `pool` at `now`: the month's and the day's four counters
 * and the minute's requests incremented, and the pool's fields of earlier windows in `seen` (the
 * state's usage fields as read) removed.
 */
export function recordRunUsage({
  seen,
  pool,
  now,
  amounts,
}: {
  seen: Readonly<Record<string, number>>;
  pool: UsagePool;
  now: number;
  amounts: RunAmounts;
}): UsageChange {
  const keys = windowKeys(now);
  const increment: Record<string, number> = {};
  // A provider that reports no cost (or a broken one) adds nothing: one NaN would spoil the window.
  amounts = {
    requests: finiteAmount(amounts.requests),
    inputTokens: finiteAmount(amounts.inputTokens),
    outputTokens: finiteAmount(amounts.outputTokens),
    cost: finiteAmount(amounts.cost),
  };
  if (amounts.requests > 0) increment[usageField(pool, "minute", keys.minute, "requests")] = amounts.requests;
  for (const window of ["day", "month"] as const) {
    for (const counter of USAGE_COUNTERS) {
      const amount = amounts[counter];
      if (amount !== 0) increment[usageField(pool, window, keys[window], counter)] = amount;
    }
  }
  const current = new Set(
    (["minute", "day", "month"] as const).map((window) => `${WINDOW_PREFIX[window]}${keys[window]}`),
  );
  const remove = Object.keys(seen).filter((field) => {
    const parts = FIELD.exec(field);
    return parts?.[1] === pool && !current.has(`${parts[2]}${parts[3]}`) && !(field in increment);
  });
  return { increment, remove };
}

const finiteAmount = (value: number) => (Number.isFinite(value) && value > 0 ? value : 0);

/** Two changes as one write: increments added up, removals of both (never a field incremented). */
export function mergeUsageChanges(first: UsageChange, second: UsageChange): UsageChange {
  const increment = { ...first.increment };
  for (const [field, amount] of Object.entries(second.increment))
    increment[field] = (increment[field] ?? 0) + amount;
  const remove = [...new Set([...first.remove, ...second.remove])].filter((field) => !(field in increment));
  return { increment, remove };
}

/** The usage fields of a stored state document (everything else is dropped). */
export function usageFieldsOf(document: Readonly<Record<string, unknown>>): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const [field, value] of Object.entries(document)) {
    if (isUsageField(field) && typeof value === "number" && Number.isFinite(value)) fields[field] = value;
  }
  return fields;
}

/** `fields` after `change`, as a store applies it (for in-memory stores and tests). */
export function applyUsageChange(
  fields: Readonly<Record<string, number>>,
  change: UsageChange,
): Record<string, number> {
  const next = { ...fields };
  for (const field of change.remove) delete next[field];
  for (const [field, amount] of Object.entries(change.increment)) next[field] = (next[field] ?? 0) + amount;
  return next;
}
