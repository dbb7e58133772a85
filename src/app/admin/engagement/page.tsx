import { redirect } from "next/navigation";
import { requireAdminSession } from "@/services/admin-auth";

/**
 * The engagement view moved to the dashboard, read from the metrics rollup (a fixed number of
 * documents) instead of about a hundred counts over the messages per page view.
 */
export default async function EngagementPage() {
  await requireAdminSession();
  redirect("/admin#engagement");
}
