/**
 * Global setup of the route tests: at the end of the run, says where the browser tests left
 * their screenshots (only those taken in this run are counted).
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { SCREENSHOT_DIR } from "./browser";

export default function reportScreenshots(): () => void {
  const startedAt = Date.now();
  return () => {
    let taken = 0;
    try {
      for (const name of readdirSync(SCREENSHOT_DIR)) {
        if (name.endsWith(".png") && statSync(join(SCREENSHOT_DIR, name)).mtimeMs >= startedAt) taken += 1;
      }
    } catch {
      return; // no browser test ran
    }
    if (taken > 0) console.log(`\nscreenshots: ${SCREENSHOT_DIR} (${taken} from this run)`);
  };
}
