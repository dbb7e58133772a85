/**
 * Global setup of the route tests: one production build for every route test file. Set
 * SKIP_NEXT_BUILD=1 to reuse an existing `.next` while iterating on tests alone.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NEXT_BIN = fileURLToPath(new URL("../../node_modules/next/dist/bin/next", import.meta.url));

export default function buildNext(): void {
  if (process.env.SKIP_NEXT_BUILD === "1" && existsSync(`${ROOT}/.next/BUILD_ID`)) return;
  execFileSync(process.execPath, [NEXT_BIN, "build"], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
  });
}
