/**
 * `gotunnel doctor trust`: does each TLS client on this machine accept a certificate from our CA? A throwaway HTTPS
 * server on loopback serves a fresh leaf, and every client that exists connects to it with its default trust: curl
 * (no --cacert), openssl with the system bundle, NSS `certutil -V` on a COPY of each browser database (the user's
 * database is never written), and node. Read-only: nothing on the machine changes.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LocalCA } from "../ca.ts";
import { issueLeaf } from "../leaf.ts";
import { LINUX_LAYOUTS } from "./linux.ts";
import { findNssDatabases } from "./nss.ts";
import type { StoreContext } from "./types.ts";

/** In the CA's permitted names, and resolvable by nobody: every client is pointed at 127.0.0.1 explicitly. */
export const DOCTOR_NAME = "gotunnel-doctor.localhost";
const BODY = "gotunnel doctor ok";
/** The files of an NSS sql database (certutil(1) "-d sql:"). */
const NSS_FILES = ["cert9.db", "key4.db", "pkcs11.txt"];

export interface ClientCheck {
  client: string;
  /** undefined when the client is not installed here. */
  accepted: boolean | undefined;
  detail: string;
}

interface Probe {
  port: number;
  leafPath: string;
  tempDir: string;
}

/** Runs every probe against one throwaway server. */
export async function checkClients(ca: LocalCA, context: StoreContext): Promise<ClientCheck[]> {
  const leaf = await issueLeaf(ca, [DOCTOR_NAME]);
  const tempDir = mkdtempSync(join(tmpdir(), "gotunnel-doctor-"));
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { cert: leaf.certPem, key: leaf.keyPem },
    fetch: () => new Response(BODY),
  });
  try {
    const leafPath = join(tempDir, "leaf.pem");
    writeFileSync(leafPath, leaf.certPem);
    const probe = { port: server.port!, leafPath, tempDir };
    const checks = [await curlCheck(context, probe), await opensslCheck(context, probe)];
    checks.push(...(await nssChecks(context, probe)));
    checks.push(await nodeCheck(context, probe));
    return checks;
  } finally {
    await server.stop(true);
    rmSync(tempDir, { recursive: true, force: true });
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").slice(-1)[0] ?? "";
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

async function curlCheck({ runner, env }: StoreContext, { port }: Probe): Promise<ClientCheck> {
  if (!runner.which("curl")) return { client: "curl", accepted: undefined, detail: "not installed" };
  const url = `https://${DOCTOR_NAME}:${port}/`;
  const argv = [
    "curl",
    "--silent",
    "--show-error",
    "--max-time",
    "10",
    "--resolve",
    `${DOCTOR_NAME}:${port}:127.0.0.1`,
  ];
  const result = await runner.run([...argv, url]);
  const accepted = result.code === 0 && result.stdout === BODY;
  const how = env.CURL_CA_BUNDLE ? `CURL_CA_BUNDLE=${env.CURL_CA_BUNDLE}` : "its default CA bundle";
  return { client: "curl", accepted, detail: accepted ? how : firstLine(result.stderr) };
}

/** The bundle OpenSSL-based clients read: the Linux family's, or the one macOS ships for LibreSSL. */
function systemBundle(context: StoreContext): string | undefined {
  if (context.os.platform === "darwin") return "/etc/ssl/cert.pem";
  return context.os.family === "unknown" ? undefined : LINUX_LAYOUTS[context.os.family].bundle;
}

async function opensslCheck(context: StoreContext, { port }: Probe): Promise<ClientCheck> {
  const bundle = systemBundle(context);
  if (!context.runner.which("openssl")) return { client: "openssl", accepted: undefined, detail: "not installed" };
  if (!bundle || !existsSync(bundle)) return { client: "openssl", accepted: undefined, detail: "no system bundle" };
  const argv = ["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", DOCTOR_NAME];
  const verify = ["-verify_hostname", DOCTOR_NAME, "-verify_return_error", "-CAfile", bundle];
  const result = await context.runner.run([...argv, ...verify], { input: "" });
  const accepted = result.code === 0 && result.stdout.includes("Verify return code: 0 (ok)");
  const error = /verify error:.*$/m.exec(result.stderr)?.[0] ?? lastLine(result.stderr);
  return { client: "openssl", accepted, detail: accepted ? bundle : error };
}

/** certutil -V checks a certificate inside the database, so the leaf goes into a copy, never the user's file. */
async function nssChecks(context: StoreContext, { leafPath, tempDir }: Probe): Promise<ClientCheck[]> {
  const databases = findNssDatabases(context).filter((database) => existsSync(join(database.dir, "cert9.db")));
  if (databases.length === 0) return [];
  const client = (label: string) => `NSS ${label}`;
  if (!context.runner.which("certutil")) {
    return databases.map((database) => ({
      client: client(database.label),
      accepted: undefined,
      detail: "no certutil",
    }));
  }
  const checks: ClientCheck[] = [];
  for (const [index, database] of databases.entries()) {
    const copy = join(tempDir, `nssdb-${index}`);
    mkdirSync(copy);
    for (const file of NSS_FILES) {
      if (existsSync(join(database.dir, file))) copyFileSync(join(database.dir, file), join(copy, file));
    }
    const db = ["-d", `sql:${copy}`];
    const added = await context.runner.run([
      "certutil",
      "-A",
      ...db,
      "-t",
      ",,",
      "-n",
      "gotunnel-doctor-leaf",
      "-i",
      leafPath,
    ]);
    const result =
      added.code === 0
        ? await context.runner.run(["certutil", "-V", ...db, "-n", "gotunnel-doctor-leaf", "-u", "V"])
        : added;
    const accepted = result.code === 0 && /certificate is valid/.test(result.stdout);
    checks.push({ client: client(database.label), accepted, detail: lastLine(result.stdout || result.stderr) });
  }
  return checks;
}

/**
 * Node reads its bundled Mozilla roots plus NODE_EXTRA_CA_CERTS, unless it was built to use OpenSSL's store (Debian's
 * nodejs is) or started with --use-system-ca (Node 22.15+/23.8+), which is tried when this node knows the flag.
 */
async function nodeCheck({ runner, env }: StoreContext, { port }: Probe): Promise<ClientCheck> {
  if (!runner.which("node")) return { client: "node", accepted: undefined, detail: "not installed" };
  const systemCa = (await runner.run(["node", "--use-system-ca", "-e", "0"])).code === 0;
  const script =
    `require("https").get({host:"127.0.0.1",port:${port},servername:${JSON.stringify(DOCTOR_NAME)}},` +
    `(r)=>process.exit(r.statusCode===200?0:2)).on("error",(e)=>{console.error(e.code||e.message);process.exit(1)})`;
  const result = await runner.run(["node", ...(systemCa ? ["--use-system-ca"] : []), "-e", script]);
  const client = systemCa ? "node --use-system-ca" : "node";
  const accepted = result.code === 0;
  const how = env.NODE_EXTRA_CA_CERTS ? `NODE_EXTRA_CA_CERTS=${env.NODE_EXTRA_CA_CERTS}` : "its default CA store";
  return { client, accepted, detail: accepted ? how : firstLine(result.stderr) };
}
