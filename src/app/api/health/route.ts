import { getConfig } from "@/config";
import { methodNotAllowed, respond } from "@/http/respond";
import { engineLiveness } from "@/services/liveness";

export const dynamic = "force-dynamic";

/**
 * Liveness for uptime monitors, without auth (docs/api.md, "Liveness"): `{ status }` only, never
 * figures, configuration or the registry; 200 for `ok` and `degraded` alike.
 */
export async function GET(): Promise<Response> {
  return respond("health", async () => {
    const status = await engineLiveness(getConfig(), Date.now());
    return Response.json({ status }, { headers: { "cache-control": "no-store" } });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
