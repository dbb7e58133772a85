/**
 * Next.js calls `register` once when a server instance starts, before it serves a request (the
 * `instrumentation.ts` convention; inside `src/`, as this app keeps its code there). Tracing is
 * registered on the Node.js runtime only (every route here runs on it), and only when an exporter
 * is configured (src/config/telemetry.ts). The whole configuration is checked here too, so a bad
 * variable is reported when the server starts.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { registerTracing } = await import("@/adapters/telemetry/register-tracing");
  registerTracing();
  // Said at boot, not only as a 500 on every route: the server still starts (the health route
  // and the logs say why), naming each variable, never its value.
  const [{ configProblems }, { logger }] = await Promise.all([import("@/config"), import("@/logger")]);
  const problems = configProblems();
  if (problems.length > 0) {
    logger.error("invalid configuration: every route that reads it fails until it is fixed", { problems });
  }
}
