"use server";

import { redirect } from "next/navigation";
import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { MAX_ERROR_SIGNATURE_LENGTH } from "@/core/dead-letter-groups";
import { DEAD_LETTER_GROUP_WINDOW } from "@/pipeline/replay-dead-letter-group";
import { requireAdminSession } from "@/services/admin-auth";
import { replayDeadLetterGroupNow } from "@/services/dead-letter-groups";
import { runEventBatchesSafely } from "@/services/events";

const groupReplaySchema = z.object({
  // As stored (junk an app wrote included: a replay of it dead-letters again, as one by one).
  eventType: z.string().max(500),
  // The signature as the page showed it; the "…" a cut one ends with is a character of its own.
  errorSignature: z.string().max(MAX_ERROR_SIGNATURE_LENGTH),
  expectedCount: z.coerce.number().int().min(1).max(DEAD_LETTER_GROUP_WINDOW),
});

function notice(text: string): never {
  redirect(`/admin/events?notice=${encodeURIComponent(text)}`);
}

/**
 * Replays a whole group of dead letters (same event type, same error signature), if the group
 * still has the count the page showed on its button; then drains the outbox after the answer.
 */
export async function replayDeadLetterGroupAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const parsed = groupReplaySchema.safeParse({
    eventType: formData.get("eventType"),
    errorSignature: formData.get("errorSignature"),
    expectedCount: formData.get("expectedCount"),
  });
  if (!parsed.success) notice("That is not a dead-letter group of this page.");
  const { eventType, errorSignature, expectedCount } = parsed.data;
  const config = getConfig();
  const result = await replayDeadLetterGroupNow(config, {
    group: { eventType, errorSignature },
    expectedCount,
    now: Date.now(),
  });
  if (!result.ok)
    notice(
      `Nothing replayed: the group now has ${result.count} dead letters, not ${expectedCount}. Check it again and confirm the new count.`,
    );
  // The requeued events are pending now; the drain delivers them after this answer (the outbox cron is the safety net).
  if (result.requeued.length > 0) after(() => runEventBatchesSafely(config));
  const gone = result.missing > 0 ? ` (${result.missing} whose event no longer exists were removed)` : "";
  notice(`Replayed ${result.requeued.length} ${eventType} dead letters${gone}.`);
}
