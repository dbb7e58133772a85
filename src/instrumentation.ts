/**
 * Next.js calls `register` once when a server instance starts, before it serves a request (the
 * `instrumentation.ts` convention; inside `src/`, as this app keeps its code there). Tracing is
 * registered on the Node.js runtime only (every route here runs on it), and only when an exporter
 * is configured (src/config/telemetry.ts).
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { registerTracing } = await import("@/adapters/telemetry/register-tracing");
  registerTracing();
}
