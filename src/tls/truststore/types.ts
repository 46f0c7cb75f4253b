/**
 * One interface for every trust store gotunnel can put its CA into (system stores, NSS databases, keychains, Java).
 * Each store checks before it changes anything, identifies our CA only by its unique name or fingerprint, and has
 * an exact inverse: uninstall removes what install added and nothing else.
 */
import { createHash } from "node:crypto";
import { GotunnelError } from "../../core/errors.ts";
import type { OsInfo } from "../../platform/detect.ts";
import { type CommandRunner, formatCommand, type RunOptions, type RunResult } from "../../platform/runner.ts";

/** What a store needs to know about a CA; a subset of LocalCA, so an old CA can be untrusted without its key. */
export interface TrustedCA {
  certPem: string;
  /** A file clients can read the certificate from (for `certutil -i`, `security add-trusted-cert`, …). */
  certPath: string;
  /** Unique per CA (`gotunnel local CA ada@laptop (1a2b3c4d)`): the NSS nickname and the keychain search key. */
  commonName: string;
  /** Lower-case hex SHA-256 of the DER certificate. */
  fingerprintSha256: string;
}

export type Availability = { ok: true } | { ok: false; reason: string; fix?: string };

export interface TrustStore {
  /** Short and stable, e.g. "system", "nss:chromium", "firefox:abc.default", "keychain", "windows", "java". */
  readonly id: string;
  /** Shown to users: "Debian system store (/usr/local/share/ca-certificates)". */
  readonly name: string;
  /** Is the store here and are its tools installed? The reason and the install command when not. */
  detect(): Promise<Availability>;
  isTrusted(ca: TrustedCA): Promise<boolean>;
  /**
   * True when an entry of ours exists that does not (or no longer) make the CA trusted, e.g. an anchor file whose
   * update step never ran: `untrust` removes it anyway, so a half-done `trust` never lingers.
   */
  hasLeftovers?(ca: TrustedCA): Promise<boolean>;
  /**
   * When changing this store needs elevation or a confirmation dialog, what the user should be told BEFORE it
   * happens ("needs root: runs `sudo update-ca-certificates`"); undefined when it just happens.
   */
  elevation(): string | undefined;
  /** Adds our CA. Resolves with a skip reason instead when it cannot (and changed nothing). */
  install(ca: TrustedCA): Promise<Change>;
  /** Removes exactly what install added. Resolves with a skip reason when our entry is not the one trusting it. */
  uninstall(ca: TrustedCA): Promise<Change>;
}

export type Change = { changed: true } | { changed: false; reason: string };
export const CHANGED: Change = { changed: true };

/** Everything a store reads from the machine, injectable so tests never touch the real one. */
export interface StoreContext {
  runner: CommandRunner;
  os: OsInfo;
  /** The user's home (the invoking user's under sudo). */
  home: string;
  env: Record<string, string | undefined>;
  /** True when this process may write system stores without sudo. */
  isRoot: boolean;
}

/** The DER bytes of the first certificate in a PEM string. */
export function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!match?.[1]) throw new Error("no PEM certificate");
  return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

/** Upper-case hex SHA-1 of the certificate, the identifier `security -Z` and Windows `certutil` use. */
export function sha1Hex(ca: TrustedCA): string {
  return createHash("sha1").update(pemToDer(ca.certPem)).digest("hex").toUpperCase();
}

/** Whether a PEM bundle (or any text with PEM blocks) contains this exact certificate. */
export function bundleContains(bundle: string, ca: TrustedCA): boolean {
  const want = pemToDer(ca.certPem).toString("base64");
  const blocks = bundle.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g);
  for (const block of blocks) if (block[1]?.replace(/\s+/g, "") === want) return true;
  return false;
}

/** `gotunnel-<first 16 hex of SHA-256>`: a file name / alias that is ours and names exactly one CA. */
export function storeLabel(ca: TrustedCA): string {
  return `gotunnel-${ca.fingerprintSha256.slice(0, 16)}`;
}

/** Runs a store command; a non-zero exit becomes E_TLS naming the command and the last lines it printed. */
export async function runOrThrow(
  context: StoreContext,
  argv: string[],
  action: string,
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await context.runner.run(argv, options);
  if (result.code === 0) return result;
  const said = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ");
  throw new GotunnelError("E_TLS", `Could not ${action}: \`${formatCommand(argv)}\` exited with ${result.code}.`, {
    hint: said ? `It said: ${said}` : "Run the command yourself to see why.",
    details: { argv, code: result.code },
  });
}
