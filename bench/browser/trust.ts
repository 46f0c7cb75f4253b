/**
 * The browser's trust: an NSS database in a temp HOME (~/.pki/nssdb, where Chromium on Linux looks), holding every
 * HTTPS target's CA with the trust flags `C,,` (a CA for TLS servers), as `gotunnel trust --store nss` or mkcert
 * would put it there. Nothing about certificates is ignored: a target whose chain does not verify fails its loads.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { runOk } from "../lib/proc.ts";

const CERTUTIL_TIMEOUT_MS = 20_000;

/** Creates `<home>/.pki/nssdb` trusting each CA, named by its target. Returns the HOME to give the browser. */
export async function trustInNss(home: string, cas: { name: string; caPath: string }[]): Promise<string> {
  if (!Bun.which("certutil")) throw new Error("certutil is required: apt-get install -y libnss3-tools");
  const db = join(home, ".pki/nssdb");
  mkdirSync(db, { recursive: true });
  await runOk(["certutil", "-N", "-d", `sql:${db}`, "--empty-password"], CERTUTIL_TIMEOUT_MS);
  for (const { name, caPath } of cas) {
    await runOk(
      ["certutil", "-A", "-d", `sql:${db}`, "-t", "C,,", "-n", `bench ${name}`, "-i", caPath],
      CERTUTIL_TIMEOUT_MS,
    );
  }
  return home;
}
