/**
 * One ECDSA P-256 leaf for bench.local, signed by gotunnel's own CA, served by the upstream's TLS port (direct),
 * nginx and Caddy, so every HTTPS cell pays for the same key type and a comparable certificate.
 */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type EnvPatch, runOk } from "./proc.ts";

export const HTTPS_HOST = "bench.local";
/** gotunnel redirects HTTP to HTTPS unless a route says `"https": false`, so HTTP cells use a second name. */
export const HTTP_HOST = "bench-http.local";

export interface BenchCerts {
  caCert: string;
  caKey: string;
  leafCert: string;
  leafKey: string;
  /** Where the CA came from, for the report. */
  source: string;
}

const OPENSSL_TIMEOUT_MS = 20_000;
const LEAF_VALIDITY_DAYS = 30;

/** Starts the gotunnel CLI (`bun <main.ts> …` or a compiled binary) with the given arguments. */
export function gotunnelCommand(binary: string, args: string[]): string[] {
  return binary.endsWith(".ts") ? [process.execPath, binary, ...args] : [binary, ...args];
}

/** `gotunnel ca` creates the CA on first use and prints its path; null when the CLI cannot do that yet. */
export async function gotunnelCa(binary: string, env: EnvPatch): Promise<{ cert: string; key: string } | null> {
  if (!existsSync(binary)) return null;
  try {
    const stdout = await runOk(gotunnelCommand(binary, ["ca"]), 30_000, env);
    const cert = stdout.split(/\s+/).find((word) => word.endsWith(".pem"));
    if (!cert || !existsSync(cert)) return null;
    const key = join(dirname(cert), "rootCA-key.pem");
    return existsSync(key) ? { cert, key } : null;
  } catch {
    return null; // CLI not ready (command missing or failing): fall back to a bench-made CA
  }
}

export async function makeFallbackCa(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "fallback-rootCA.pem");
  const key = join(dir, "fallback-rootCA-key.pem");
  await runOk(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]
      .concat(["-out", cert, "-days", String(LEAF_VALIDITY_DAYS), "-subj", "/CN=gotunnel bench fallback CA"])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    OPENSSL_TIMEOUT_MS,
  );
  return { cert, key };
}

export async function signLeaf(dir: string, ca: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  const key = join(dir, "leaf-key.pem");
  const csr = join(dir, "leaf.csr");
  const cert = join(dir, "leaf.pem");
  const ext = join(dir, "leaf.ext");
  writeFileSync(
    ext,
    [
      `subjectAltName=DNS:${HTTPS_HOST},DNS:${HTTP_HOST},IP:127.0.0.1`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  await runOk(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], 10_000);
  await runOk(["openssl", "req", "-new", "-key", key, "-subj", `/CN=${HTTPS_HOST}`, "-out", csr], OPENSSL_TIMEOUT_MS);
  await runOk(
    ["openssl", "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", String(Date.now())].concat(
      ["-days", String(LEAF_VALIDITY_DAYS), "-sha256", "-extfile", ext, "-out", cert],
    ),
    OPENSSL_TIMEOUT_MS,
  );
  return { cert, key };
}

/** gotunnelEnv must carry the same GOTUNNEL_HOME the proxy will run with, so both use one CA. */
export async function prepareCerts(dir: string, binary: string, gotunnelEnv: EnvPatch) {
  const fromGotunnel = await gotunnelCa(binary, gotunnelEnv);
  const ca = fromGotunnel ?? (await makeFallbackCa(dir));
  const leaf = await signLeaf(dir, ca);
  const certs: BenchCerts = {
    caCert: ca.cert,
    caKey: ca.key,
    leafCert: leaf.cert,
    leafKey: leaf.key,
    source: fromGotunnel ? "gotunnel's CA (`gotunnel ca`)" : "a bench-made P-256 CA (`gotunnel ca` unavailable)",
  };
  return certs;
}
