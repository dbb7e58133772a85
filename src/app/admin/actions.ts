"use server";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { getConfig } from "@/config";
import { clientAddressFrom } from "@/core/login-throttle";
import { documentIdSchema, eventIdSchema } from "@/http/respond";
import { clearUser, resetBreaker, resumeUser, suspendUser } from "@/services/admin";
import { requireAdminSession, signIn, signOut } from "@/services/admin-auth";
import {
  deliverNow,
  eventProcessorDeps,
  MAX_BULK_REQUEUE,
  replayEvent,
  requeueRetriableDeadLettersNow,
  runEventBatchesSafely,
  runEventSafely,
} from "@/services/events";
import { processorDeps } from "@/services/processor";
import { setPromptVariantStopped } from "@/services/prompt-experiments";
import { runTestUser } from "@/services/test-tools";

/** Only paths inside the admin area are followed after sign-in: no open redirect. */
function safeNext(value: FormDataEntryValue | null): string {
  const next = typeof value === "string" ? value : "";
  return /^\/admin(\/[\w\-/]*)?$/.test(next) && next !== "/admin/login" ? next : "/admin";
}

function notice(path: string, text: string): never {
  redirect(`${path}?notice=${encodeURIComponent(text)}`);
}

export async function loginAction(formData: FormData): Promise<void> {
  const password = formData.get("password");
  const clientAddress = clientAddressFrom({ headers: await headers(), ...getConfig().admin.clientAddress });
  const result = await signIn({ password: typeof password === "string" ? password : "", clientAddress });
  if (!result.ok) {
    // Only a code (and seconds) in the URL: the page shows its own text for it.
    const retry = result.retryAfterSeconds === undefined ? "" : `&retry=${result.retryAfterSeconds}`;
    redirect(`/admin/login?error=${result.code}${retry}`);
  }
  redirect(safeNext(formData.get("next")));
}

export async function logoutAction(): Promise<void> {
  await signOut();
  redirect("/admin/login");
}

/** The form's user id; one Firestore cannot use goes back to the users page with a notice, not a crash. */
function uidField(formData: FormData): string {
  const parsed = documentIdSchema.safeParse(formData.get("userId"));
  if (!parsed.success) notice("/admin/users", "That is not a valid user id.");
  return parsed.data;
}

export async function generateNowAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const uid = uidField(formData);
  const config = getConfig();
  const result = await runTestUser({
    deps: processorDeps(config),
    uid,
    now: Date.now(),
    bypassChecks: formData.get("bypassChecks") === "on",
    deliver: (eventId) => deliverNow(config, eventId),
  });
  const text = result.messageGenerated
    ? "A new message was generated and sent."
    : `No message: ${"reason" in result ? result.reason : "outcome" in result ? result.outcome : "unknown"}${
        "failureReason" in result && result.failureReason ? ` (${result.failureReason})` : ""
      }.`;
  notice(`/admin/users/${encodeURIComponent(uid)}`, text);
}

const suspendSchema = z.object({
  hours: z.coerce
    .number()
    .positive()
    .max(24 * 365),
  reason: z.string().trim().min(1).max(300),
});

export async function suspendAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const uid = uidField(formData);
  const parsed = suspendSchema.safeParse({ hours: formData.get("hours"), reason: formData.get("reason") });
  if (!parsed.success)
    notice(`/admin/users/${encodeURIComponent(uid)}`, "Give a reason and a number of hours.");
  const now = Date.now();
  await suspendUser(getConfig(), {
    uid,
    until: now + Math.round(parsed.data.hours * 3_600_000),
    reason: parsed.data.reason,
    now,
  });
  notice(`/admin/users/${encodeURIComponent(uid)}`, "Suspended.");
}

export async function resumeAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const uid = uidField(formData);
  await resumeUser(getConfig(), { uid, now: Date.now() });
  notice(`/admin/users/${encodeURIComponent(uid)}`, "Resumed.");
}

export async function clearUserAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const uid = uidField(formData);
  if (formData.get("confirm") !== uid) {
    notice(`/admin/users/${encodeURIComponent(uid)}`, "Type the user id to confirm clearing their data.");
  }
  await clearUser(getConfig(), uid);
  notice(`/admin/users/${encodeURIComponent(uid)}`, "Coaching data cleared; the schedule starts again.");
}

const variantFieldSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/);

/** Stops (`stopped=on`) or resumes a prompt variant of the running experiment (docs/generation.md). */
export async function promptVariantAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const variant = variantFieldSchema.safeParse(formData.get("variant"));
  if (!variant.success) notice("/admin", "That is not a prompt variant id.");
  const stopped = formData.get("stopped") === "on";
  const outcome = await setPromptVariantStopped(getConfig(), {
    variant: variant.data,
    stopped,
    now: Date.now(),
  });
  if (outcome === "unknown") notice("/admin", `No running prompt variant "${variant.data}".`);
  notice(
    "/admin",
    stopped
      ? `Prompt variant ${variant.data} stopped: its users get the current prompt from their next run.`
      : `Prompt variant ${variant.data} resumed.`,
  );
}

export async function resetBreakerAction(): Promise<void> {
  await requireAdminSession();
  await resetBreaker(getConfig(), Date.now());
  notice("/admin", "LLM circuit breaker reset: the next run calls the LLM.");
}

/**
 * Requeues retriable dead letters in bulk, up to the count the operator typed to confirm (the
 * count the page showed; at most MAX_BULK_REQUEUE a time), then drains them.
 */
export async function requeueDeadLettersAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const confirmed = z.coerce.number().int().min(1).max(MAX_BULK_REQUEUE).safeParse(formData.get("confirm"));
  if (!confirmed.success || String(confirmed.data) !== formData.get("expected")) {
    notice("/admin/events", "Type the number of retriable dead letters shown to confirm the requeue.");
  }
  const config = getConfig();
  const { requeued, remaining } = await requeueRetriableDeadLettersNow(config, {
    confirmCount: confirmed.data,
    now: Date.now(),
  });
  if (requeued > 0) await runEventBatchesSafely(config);
  notice("/admin/events", `Requeued ${requeued} dead letters; ${remaining} retriable ones left.`);
}

export async function replayAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const parsed = eventIdSchema.safeParse(formData.get("eventId"));
  if (!parsed.success) notice("/admin/events", "That is not a valid event id.");
  const eventId = parsed.data;
  const deps = eventProcessorDeps(getConfig());
  if (await replayEvent(deps, eventId)) await runEventSafely(deps, eventId);
  notice("/admin/events", `Replayed ${eventId}.`);
}
