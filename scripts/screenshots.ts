/**
 * `bun scripts/screenshots.ts`: regenerates docs/dashboard-*.png, the dashboard's main views as the README shows
 * them, by running the browser-tier dashboard test (headless Chromium against the compiled binary) with
 * GOTUNNEL_DASHBOARD_SCREENSHOTS pointing at docs/. Build first (`bun scripts/build.ts`).
 */
import { resolve } from "node:path";

const docs = resolve(import.meta.dir, "..", "docs");
const proc = Bun.spawn([process.execPath, "test", "--timeout", "120000", "tests/browser/dashboard.test.ts"], {
  cwd: resolve(import.meta.dir, ".."),
  env: { ...process.env, GOTUNNEL_DASHBOARD_SCREENSHOTS: docs },
  stdout: "inherit",
  stderr: "inherit",
});
const code = await proc.exited;
if (code === 0) console.log(`screenshots written to ${docs}/dashboard-*.png`);
process.exit(code);
