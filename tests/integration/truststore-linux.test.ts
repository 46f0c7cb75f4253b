/**
 * `gotunnel trust` / `untrust` for real, with the compiled binary, on the Debian system store, a temp NSS database
 * and the JDK's cacerts, inside a private mount namespace: /usr/local/share/ca-certificates and /etc/ssl/certs are
 * bind-mounted copies, so the machine's real trust store is never written (asserted at the end by hashes).
 * Debian's update hooks (/etc/ca-certificates/update.d) are masked with an empty directory: the ca-certificates-java
 * hook runs `dpkg --triggers-only`, which would write dpkg's real state outside the namespace.
 * A real Bun.serve with a leaf from the CA answers plain `curl` (no --cacert) before, during and after; `ca rotate`
 * moves trust to a new CA in every store; `gotunnel env` is eval'd by real shells.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Server } from "bun";
import { type LocalCA, loadCA } from "../../src/tls/ca.ts";
import { issueLeaf } from "../../src/tls/leaf.ts";
import { type Run, run } from "../helpers/process.ts";
import { requireAll, requirement, requireRoot, requireTools } from "../helpers/tools.ts";

const REPO = resolve(import.meta.dir, "..", "..");
const ANCHORS = "/usr/local/share/ca-certificates";
const CERTS = "/etc/ssl/certs";
const HOOKS = "/etc/ca-certificates/update.d";
/** Rewritten by keytool on every change (JKS entry order), so it is compared by its entry listing instead. */
const JAVA_CACERTS = "java/cacerts";
const NAME = "myapp.local";
/** Served from the rotated CA, which `ca rotate --allow-suffix .dev` widened to .dev. */
const DEV_NAME = "shop.dev";
const BUILD_TIMEOUT_MS = 120_000;
/** Each step runs the binary and update-ca-certificates a few times: seconds, more on a busy shared machine. */
const STEP_TIMEOUT_MS = 60_000;

const ready = requireAll(
  requireRoot("make a private mount namespace"),
  requireTools("unshare", "mount", "update-ca-certificates", "curl", "certutil", "keytool", "openssl"),
  requirement(existsSync(HOOKS) ? undefined : `needs ${HOOKS} (Debian's update-ca-certificates hooks)`),
);

/** Every entry under dir: type, link target and content hash (no symlink is followed). */
function snapshot(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(dir, relative), { withFileTypes: true })) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (skip.includes(path)) continue;
      if (entry.isSymbolicLink()) out[path] = `-> ${readlinkSync(join(dir, path))}`;
      else if (entry.isDirectory()) {
        out[path] = "<dir>";
        walk(path);
      } else out[path] = new Bun.CryptoHasher("sha256").update(readFileSync(join(dir, path))).digest("hex");
    }
  };
  walk("");
  return out;
}

let work = "";
let binary = "";
let home = "";
let env: Record<string, string> = {};
let server: Server<undefined> | undefined;
let realBefore: Record<string, string>;
const dirs = { anchors: "", certs: "", hooks: "" };

/** argv inside a private mount namespace whose trust-store directories are our copies. */
function inNamespace(argv: string[]): Promise<Run> {
  const script =
    `mount --bind "$1" ${ANCHORS} && mount --bind "$2" ${CERTS} && mount --bind "$3" ${HOOKS} && shift 3 && ` +
    'exec "$@"';
  const mounts = [dirs.anchors, dirs.certs, dirs.hooks];
  return run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", ...mounts, ...argv], env);
}

interface Report {
  stores: { id: string; status: string }[];
  trusted: { id: string; status: string }[];
  untrusted: { id: string; status: string }[];
}

async function gotunnel(...args: string[]): Promise<Report> {
  const result = await inNamespace([binary, ...args, "--json"]);
  if (result.code !== 0) {
    throw new Error(`gotunnel ${args.join(" ")} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  }
  return JSON.parse(result.stdout);
}

function statuses(stores: { id: string; status: string }[]): Record<string, string> {
  return Object.fromEntries(stores.map((store) => [store.id.split(":")[0]!, store.status]));
}

/** (Re)starts the HTTPS server with a fresh leaf for `name` from the CA now in GOTUNNEL_HOME. */
async function serve(name: string): Promise<LocalCA> {
  await server?.stop(true);
  const ca = (await loadCA(join(env.GOTUNNEL_HOME!, "ca")))!;
  const leaf = await issueLeaf(ca, [name]);
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { cert: leaf.certPem, key: leaf.keyPem },
    fetch: (request) => new Response(`hello from ${new URL(request.url).hostname}`),
  });
  return ca;
}

function curlArgs(name: string): string[] {
  const port = server!.port;
  return [
    "curl",
    "--silent",
    "--show-error",
    "--max-time",
    "10",
    "--resolve",
    `${name}:${port}:127.0.0.1`,
    `https://${name}:${port}/`,
  ];
}

/** Plain curl: no --cacert, so only the (namespaced) system store can make it trust the server. */
const curlPlain = (name = NAME) => inNamespace(curlArgs(name));

async function storeState() {
  const nss = await run(["certutil", "-L", "-d", `sql:${join(home, ".pki", "nssdb")}`]);
  const java = await run(["keytool", "-list", "-keystore", join(dirs.certs, JAVA_CACERTS), "-storepass", "changeit"]);
  return {
    anchors: snapshot(dirs.anchors),
    certs: snapshot(dirs.certs, [JAVA_CACERTS]),
    javaEntries: java.stdout,
    nssListing: nss.stdout,
  };
}

/** `gotunnel doctor trust --json` in the namespace: client → accepted. */
async function doctor(): Promise<Record<string, boolean | null>> {
  const result = await inNamespace([binary, "doctor", "trust", "--json"]);
  const clients = JSON.parse(result.stdout).clients as { client: string; accepted: boolean | null }[];
  return Object.fromEntries(clients.map((check) => [check.client, check.accepted]));
}

function realStores(): Record<string, string> {
  const conf = new Bun.CryptoHasher("sha256").update(readFileSync("/etc/ca-certificates.conf")).digest("hex");
  return { ...snapshot(ANCHORS), ...snapshot(CERTS), conf };
}

const ALL = (status: string) => ({ system: status, nss: status, java: status });

describe.skipIf(ready.skip)(ready.title("Linux system store, NSS and Java in a private mount namespace"), () => {
  let baseline: Awaited<ReturnType<typeof storeState>>;
  let afterTrust: Awaited<ReturnType<typeof storeState>>;
  let ca: LocalCA;

  beforeAll(async () => {
    realBefore = realStores();
    work = mkdtempSync(join(tmpdir(), "gotunnel-truststore-"));
    binary = join(work, "gotunnel");
    const build = await run([process.execPath, join(REPO, "scripts", "build.ts"), "--outfile", binary]);
    if (build.code !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
    Object.assign(dirs, { anchors: join(work, "anchors"), certs: join(work, "certs"), hooks: join(work, "hooks") });
    cpSync(ANCHORS, dirs.anchors, { recursive: true, verbatimSymlinks: true });
    cpSync(CERTS, dirs.certs, { recursive: true, verbatimSymlinks: true });
    mkdirSync(dirs.hooks);
    home = join(work, "home");
    const nssdb = join(home, ".pki", "nssdb");
    mkdirSync(nssdb, { recursive: true });
    expect((await run(["certutil", "-N", "-d", `sql:${nssdb}`, "--empty-password"])).code).toBe(0);
    // A data dir whose path needs quoting in every shell: `gotunnel env` must survive it.
    env = { HOME: home, GOTUNNEL_HOME: join(work, "gotunnel home's $data"), NO_COLOR: "1" };
    // This machine's /etc/ssl/certs was not all made by update-ca-certificates (one local CA is a plain file, not
    // its link), and the tool's first run anywhere normalises that. Take the baseline after that first run.
    expect((await inNamespace(["update-ca-certificates"])).code).toBe(0);
    expect((await run([binary, "ca"], env)).code).toBe(0);
    ca = await serve(NAME);
    baseline = await storeState();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await server?.stop(true);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test(
    "before trust, plain curl refuses the certificate (exit 60), and doctor says so",
    async () => {
      expect((await curlPlain()).code).toBe(60);
      expect(await doctor()).toMatchObject({
        curl: false,
        openssl: false,
        "NSS Chromium/Chrome (~/.pki/nssdb)": false,
      });
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "gotunnel env, eval'd by bash and dash: curl and node trust the CA with no store changed",
    async () => {
      const expected = `${env.GOTUNNEL_HOME}/ca/rootCA.pem`;
      for (const shell of ["bash", "dash"]) {
        const script = 'eval "$("$0" env --shell bash)" && printf %s "$NODE_EXTRA_CA_CERTS"';
        expect(await run([shell, "-c", script, binary], env)).toMatchObject({ code: 0, stdout: expected });
      }
      const curl = curlArgs(NAME)
        .map((arg) => `'${arg}'`)
        .join(" ");
      const node = `require("https").get({host:"127.0.0.1",port:${server!.port},servername:"${NAME}"},(r)=>process.exit(r.statusCode===200?0:1)).on("error",()=>process.exit(2))`;
      const script = `eval "$("$0" env)" && ${curl} && node -e '${node}'`;
      const result = await run(["bash", "-c", script, binary], { ...env, SHELL: "/bin/bash" });
      expect(result.stderr).toBe("");
      expect([result.code, result.stdout]).toEqual([0, `hello from ${NAME}`]);
      expect(await storeState()).toEqual(baseline);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "trust: every store says now trusted, and plain curl (no --cacert) succeeds",
    async () => {
      const report = await gotunnel("trust");
      expect(statuses(report.stores)).toEqual(ALL("changed"));
      expect(readdirSync(dirs.anchors)).toContain(`gotunnel-${ca.fingerprintSha256.slice(0, 16)}.crt`);
      const result = await curlPlain();
      expect(result.stderr).toBe("");
      expect([result.code, result.stdout]).toEqual([0, `hello from ${NAME}`]);
      afterTrust = await storeState();
      expect(afterTrust.nssListing).toContain(ca.commonName);
      expect(afterTrust.javaEntries).toContain(`gotunnel-${ca.fingerprintSha256.slice(0, 16)}`);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "trust again: already trusted everywhere, and nothing changed",
    async () => {
      const report = await gotunnel("trust");
      expect(statuses(report.stores)).toEqual(ALL("already"));
      expect(await storeState()).toEqual(afterTrust);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "doctor trust: curl, openssl with the system bundle and NSS accept the CA",
    async () => {
      expect(await doctor()).toMatchObject({ curl: true, openssl: true, "NSS Chromium/Chrome (~/.pki/nssdb)": true });
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "ca rotate --allow-suffix .dev: the new CA is trusted where the old one was, the old one nowhere",
    async () => {
      const report = await gotunnel("ca", "rotate", "--allow-suffix", ".dev");
      expect(statuses(report.trusted)).toEqual(ALL("changed"));
      expect(statuses(report.untrusted)).toEqual(ALL("changed"));
      expect((await curlPlain()).code).toBe(60); // the old CA's leaf: no longer trusted
      const rotated = await serve(DEV_NAME); // .dev: widened by the rotation
      expect(rotated.fingerprintSha256).not.toBe(ca.fingerprintSha256);
      expect(await curlPlain(DEV_NAME)).toMatchObject({ code: 0, stdout: `hello from ${DEV_NAME}` });
      const state = await storeState();
      expect(state.nssListing).not.toContain(ca.commonName);
      expect(state.nssListing).toContain(rotated.commonName);
      expect(readdirSync(env.GOTUNNEL_HOME!).filter((name) => name.startsWith("ca.old-"))).toHaveLength(1);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "untrust: the exact inverse — curl refuses again and every store is as before trust",
    async () => {
      const report = await gotunnel("untrust");
      expect(statuses(report.stores)).toEqual(ALL("changed"));
      expect((await curlPlain(DEV_NAME)).code).toBe(60);
      expect(await storeState()).toEqual(baseline);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "untrust again: was not trusted anywhere, nothing changed",
    async () => {
      const report = await gotunnel("untrust");
      expect(statuses(report.stores)).toEqual(ALL("already"));
      expect(await storeState()).toEqual(baseline);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "the machine's real trust store was never touched",
    () => {
      expect(realStores()).toEqual(realBefore);
    },
    STEP_TIMEOUT_MS,
  );
});
