"use server";

import { redirect } from "next/navigation";
import { getConfig } from "@/config";
import { requireAdminSession } from "@/services/admin-auth";
import { liftEmailSuppression } from "@/services/delivery";

/** Lifts one suppression: the outbox emails the address again from its next message. */
export async function liftSuppressionAction(formData: FormData): Promise<void> {
  await requireAdminSession();
  const id = formData.get("suppressionId");
  // The id is a sha256 of the address (core/email-address.ts): anything else names nothing.
  const valid = typeof id === "string" && /^[0-9a-f]{64}$/.test(id);
  const lifted = valid && (await liftEmailSuppression(getConfig(), id));
  const text = lifted ? "Suppression lifted: the address gets email again." : "No such suppression.";
  redirect(`/admin/suppressions?notice=${encodeURIComponent(text)}`);
}
