// Launches Debian's headless Chromium (or $CHROMIUM) through playwright-core, in a fresh
// profile, and reports how a test went: shared by the browser tests.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/**
 * Runs `test(context)` in a fresh browser: prints "ok" when it returns, or what went wrong
 * (and sets the exit status to 1) when it throws; then ends the browser, removing its profile.
 */
export async function run(test) {
  const profile = mkdtempSync(join(tmpdir(), "ws-routes-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    await test(context);
    console.log("ok");
  } catch (error) {
    console.error(`browser test failed: ${error.message}`);
    process.exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
