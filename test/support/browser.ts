/**
 * Chromium for the admin pages' browser tests, driven by playwright-core. By default it is the
 * headless Chromium that ships inside the `@sparticuz/chromium` npm package, so `npm ci && npm test`
 * needs no browser on the machine and downloads nothing. `CHROMIUM_PATH=/usr/bin/chromium` picks a
 * browser installed on the machine instead.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Browser, chromium } from "playwright-core";

export const SCREENSHOT_DIR = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url));

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const systemBrowser = process.env.CHROMIUM_PATH;
  if (systemBrowser) {
    return chromium.launch({
      executablePath: systemBrowser,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  }
  const { default: packaged } = await import("@sparticuz/chromium");
  const directory = unpackPackagedChromium();
  return chromium.launch({
    executablePath: join(directory, "chromium"),
    headless: true,
    // --single-process is there for AWS Lambda's sandbox; with it, closing one browser context
    // takes the whole browser down, and the tests open several.
    args: packaged.args.filter((arg) => arg !== "--single-process"),
    env: { ...process.env, FONTCONFIG_FILE: join(directory, "fonts.conf") },
  });
}

/**
 * The package's own unpacking writes into `os.tmpdir()` and trusts whatever it finds there, so two
 * test runs unpacking at once (two checkouts, say) could launch a half-written binary. Unpack in
 * a child process whose TMPDIR is a fresh staging directory, then move that directory into place
 * with one rename: the versioned directory either does not exist or is complete.
 */
function unpackPackagedChromium(): string {
  const entry = createRequire(import.meta.url).resolve("@sparticuz/chromium");
  const { version } = JSON.parse(readFileSync(join(dirname(entry), "..", "package.json"), "utf8")) as {
    version: string;
  };
  const target = join(tmpdir(), `sparticuz-chromium-${version}`);
  if (existsSync(target)) return target;

  const staging = mkdtempSync(`${target}.partial-`);
  try {
    const unpack = `const { default: c } = await import(${JSON.stringify(pathToFileURL(entry).href)}); await c.executablePath();`;
    execFileSync(process.execPath, ["--input-type=module", "--eval", unpack], {
      env: { ...process.env, TMPDIR: staging },
      stdio: ["ignore", "ignore", "inherit"],
    });
    // The package's fonts.conf names /tmp/fonts; this one keeps the system's fonts and adds the
    // bundled ones, so pages render text on a machine without fonts too.
    writeFileSync(
      join(staging, "fonts.conf"),
      [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "fonts.dtd">',
        "<fontconfig>",
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
        `  <dir>${join(target, "fonts")}</dir>`,
        `  <cachedir>${join(target, "fonts-cache")}</cachedir>`,
        "</fontconfig>",
        "",
      ].join("\n"),
    );
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    // Another run finished unpacking first: its copy is as good as ours.
    if (!existsSync(target)) throw error;
  }
  return target;
}
