/**
 * gotunnel's local certificate authority on disk: `<caDir>/rootCA.pem` and `<caDir>/rootCA-key.pem`.
 *
 * Users trust this CA by hand, so this module never overwrites or deletes a CA file. A broken, mismatched or
 * half-present CA is an E_TLS error naming the file and the way out. New files are written atomically (temp file in
 * the same directory, fsync, hard link into place so an existing file is never replaced: platform/safe-fs.ts), key
 * first: a crash can leave a key without a certificate (nobody trusted it yet), never a certificate without its key;
 * a failed certificate write (a full disk) takes the new key away again. Under sudo the CA directory must be the
 * invoking user's own and is never reached through a link (safe-fs.ts): root must not sign with, or replace, a CA
 * a planted link leads it to.
 */
import { closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { GotunnelError, isGotunnelError } from "../core/errors.ts";
import { fileLocks } from "../platform/flock.ts";
import { existingOwnedDir, type OwnedDir, withOwnedDir } from "../platform/safe-fs.ts";
import {
  decodeNameConstraints,
  defaultNameConstraints,
  encodeNameConstraints,
  type NameConstraints,
} from "./constraints.ts";
import { DAY_MS } from "./expiry.ts";
import {
  createCaCertificatePem,
  derToPem,
  EC_KEY_ALGORITHM,
  generateKeyPair,
  type IssuerKey,
  MAX_COMMON_NAME_CHARS,
  parseCertificatePem,
  pemToDer,
  sha256Hex,
} from "./x509.ts";

export const CA_CERT_FILE = "rootCA.pem";
export const CA_KEY_FILE = "rootCA-key.pem";
/** Ten years, as mkcert does: re-trusting a CA is manual work for the user, so it should rarely happen. */
export const CA_VALIDITY_DAYS = 3650;
/** notBefore is backdated so a client whose clock is a little behind ours still accepts fresh certificates. */
export const CLOCK_SKEW_MS = 60 * 60 * 1000;
export { DAY_MS } from "./expiry.ts";

const CA_DIR_MODE = 0o700;
const CA_KEY_FILE_MODE = 0o600;
/** The certificate is public; the 0700 directory is what keeps other users out of the key. */
const CA_CERT_FILE_MODE = 0o644;
const CA_ORGANIZATION = "gotunnel local development CA";
const CA_CN_PREFIX = "gotunnel local CA";
const CA_ID_HEX_CHARS = 8;

export interface LocalCA {
  certPem: string;
  certPath: string;
  keyPath: string;
  /** RFC 4514-style subject, e.g. `CN=gotunnel local CA ada@laptop (1a2b3c4d), O=gotunnel local development CA`. */
  subject: string;
  /** Unique per machine and CA: trust stores find (and remove) exactly our CA by it. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
  fingerprintSha256: string;
  /**
   * The names this CA may sign for (RFC 5280 nameConstraints). Undefined for a CA made before gotunnel constrained
   * its CAs: it keeps working unchanged, and `gotunnel ca rotate` replaces it with a constrained one.
   */
  nameConstraints: NameConstraints | undefined;
}

export interface CreateCaOptions {
  now?: Date;
  /**
   * Extra DNS suffixes a NEW CA may sign for, on top of DEFAULT_PERMITTED_SUFFIXES (e.g. the `tls.suffixes` config
   * list, or `gotunnel ca rotate --allow-suffix .dev`). An existing CA is never changed: widening needs a rotation.
   */
  suffixes?: readonly string[];
  /** Told before a step that may take a while (making the CA, waiting for another gotunnel making it), for progress. */
  onStep?: (label: string) => void;
}

/** The signing key stays out of LocalCA so logging or serialising a LocalCA can never show it. */
const issuers = new WeakMap<LocalCA, IssuerKey>();

/** For leaf.ts: the non-extractable signing key and issuer facts of a CA returned by this module. */
export function caIssuerKey(ca: LocalCA): IssuerKey {
  const issuer = issuers.get(ca);
  if (!issuer) throw new Error("LocalCA was not created by loadCA/loadOrCreateCA (no signing key attached)");
  return issuer;
}

export function caCertPath(caDir: string): string {
  return join(caDir, CA_CERT_FILE);
}

export function caKeyPath(caDir: string): string {
  return join(caDir, CA_KEY_FILE);
}

/**
 * Loads the CA in caDir; undefined when neither file exists. Never writes. `allowExpired` is for `ca rotate`, which
 * must be able to read the CA it replaces (so it can be untrusted) even after it expired.
 */
export async function loadCA(
  caDir: string,
  options: { now?: Date; allowExpired?: boolean } = {},
): Promise<LocalCA | undefined> {
  const certPath = caCertPath(caDir);
  const keyPath = caKeyPath(caDir);
  const dir = existingOwnedDir(caDir);
  if (!dir) return undefined;
  let certPem: string | undefined;
  let keyPem: string | undefined;
  try {
    certPem = readCaFile(dir, CA_CERT_FILE);
    keyPem = readCaFile(dir, CA_KEY_FILE);
  } finally {
    dir.close();
  }
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined) throw brokenCaError(keyPath, `its certificate ${certPath} is missing`);
  if (keyPem === undefined) throw brokenCaError(certPath, `its private key ${keyPath} is missing`);
  const now = options.now ?? new Date();
  return parseCA({ certPem, keyPem, certPath, keyPath }, options.allowExpired ? undefined : now);
}

/** Reuses the CA in caDir, or creates a name-constrained one when neither file exists. */
export async function loadOrCreateCA(
  caDir: string,
  options: CreateCaOptions = {},
): Promise<{ ca: LocalCA; created: boolean }> {
  let existing: LocalCA | undefined;
  try {
    existing = await loadCA(caDir, options);
  } catch (error) {
    // Key present, certificate not yet: another gotunnel is creating the CA this instant (it writes the key first).
    // Or it finished between our two reads: then the certificate is there now and a reload succeeds.
    if (!isBeingCreated(caDir) && !existsSync(caCertPath(caDir))) throw error;
    options.onStep?.("waiting for another gotunnel to finish creating the CA");
    existing = await waitForOtherCreator(caDir, options, error);
  }
  if (existing) return { ca: existing, created: false };
  try {
    options.onStep?.("creating gotunnel's local CA");
    return { ca: await createCA(caDir, options), created: true };
  } catch (error) {
    // Two terminals ran their first `gotunnel up` together and the other one won: use its CA.
    if (!(error instanceof GotunnelError && error.details?.raced)) throw error;
    return { ca: await waitForOtherCreator(caDir, options, error), created: false };
  }
}

/** How long a second process waits for a concurrent CA creation to finish (creation takes ~10 ms). */
const CA_CREATION_WAIT_MS = 10_000;
const CA_CREATION_POLL_MS = 25;

/**
 * Present while one process creates the CA, which holds a flock on it (platform/flock.ts) until it is done: the kernel
 * drops the lock when that process dies, even as a zombie, so a leftover marker is never mistaken for work in
 * progress. It holds the creator's pid, for Windows (no flock there, and no zombies: the pid tells).
 */
const CREATING_MARKER = ".creating";

function isBeingCreated(caDir: string): boolean {
  let fd: number;
  try {
    fd = openSync(join(caDir, CREATING_MARKER), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch {
    return false; // No marker: nobody is creating the CA, so half-written files are a real problem to report.
  }
  try {
    const locks = fileLocks();
    if (locks) return !locks.tryLock(fd, "shared");
    return pidIsAlive(Number.parseInt(readFileSync(fd, "utf8"), 10));
  } finally {
    closeSync(fd);
  }
}

function pidIsAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === "EPERM";
  }
}

async function waitForOtherCreator(caDir: string, options: CreateCaOptions, original: unknown): Promise<LocalCA> {
  const deadline = Date.now() + CA_CREATION_WAIT_MS;
  while (Date.now() < deadline) {
    await Bun.sleep(CA_CREATION_POLL_MS);
    if (existsSync(caCertPath(caDir))) {
      const ca = await loadCA(caDir, options);
      if (ca) return ca;
    }
  }
  throw original;
}

async function createCA(caDir: string, options: CreateCaOptions): Promise<LocalCA> {
  const now = options.now ?? new Date();
  const keys = await generateKeyPair();
  const certPem = await createCaCertificatePem({
    keys,
    commonName: caCommonName(),
    organization: CA_ORGANIZATION,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    nameConstraintsDer: encodeNameConstraints(defaultNameConstraints(options.suffixes)),
  });
  const keyPem = derToPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  const certPath = caCertPath(caDir);
  const keyPath = caKeyPath(caDir);
  try {
    withOwnedDir(caDir, CA_DIR_MODE, (dir) => {
      // mkdir's mode is filtered by the umask and ignored for an existing directory; the CA directory is ours.
      dir.chmod(CA_DIR_MODE);
      writeCaFiles(dir, keyPem, certPem);
    });
  } catch (error) {
    // A full disk, a refused link or a race already says what happened and what to do.
    if (isGotunnelError(error)) throw error;
    throw new GotunnelError("E_TLS", `Could not create the gotunnel CA in ${caDir}: ${describe(error)}`, {
      hint: `Check that ${caDir} is writable by this user (or set GOTUNNEL_HOME to a writable directory).`,
      cause: error,
    });
  }
  return parseCA({ certPem, keyPem, certPath, keyPath }, now);
}

/** Key first, then certificate, under the creation marker; a certificate that cannot be written takes its key along. */
function writeCaFiles(dir: OwnedDir, keyPem: string, certPem: string): void {
  const marker = claimCreation(dir);
  try {
    // Another process may have created the whole CA (and dropped its marker) after our first look: use that one.
    if (existsSync(dir.pathOf(CA_KEY_FILE)) || existsSync(dir.pathOf(CA_CERT_FILE))) {
      throw racedError(dir.pathOf(CREATING_MARKER));
    }
    writeNewCaFile(dir, CA_KEY_FILE, keyPem, CA_KEY_FILE_MODE);
    try {
      writeNewCaFile(dir, CA_CERT_FILE, certPem, CA_CERT_FILE_MODE);
    } catch (error) {
      // We hold the marker and the key is the one we just wrote: without its certificate nobody can trust it, and
      // left behind it would make every later run report a broken CA. A raced certificate is someone else's CA.
      if (!(error instanceof GotunnelError && error.details?.raced)) dir.remove(CA_KEY_FILE);
      throw error;
    }
  } finally {
    dir.remove(CREATING_MARKER);
    closeSync(marker);
  }
}

/** `gotunnel local CA <user>@<host> (<8 hex>)`: readable in a trust store UI, and unique per machine and CA. */
function caCommonName(): string {
  const id = Buffer.from(crypto.getRandomValues(new Uint8Array(CA_ID_HEX_CHARS / 2))).toString("hex");
  const fixedChars = `${CA_CN_PREFIX}  ()`.length + id.length;
  const owner = `${invokingUser()}@${hostname().split(".")[0] ?? "host"}`.slice(0, MAX_COMMON_NAME_CHARS - fixedChars);
  return `${CA_CN_PREFIX} ${owner} (${id})`;
}

function invokingUser(): string {
  const env = process.env;
  // Under sudo, name the CA after the person, matching platform/paths.ts which keeps the CA in their home.
  if (env.SUDO_USER && env.SUDO_USER !== "root") return env.SUDO_USER;
  // Not os.userInfo(): Bun 1.4.5 answers env.USER or "unknown" there, without asking the passwd database.
  return env.USER || env.LOGNAME || env.USERNAME || passwdUserName(process.getuid?.()) || "user";
}

function passwdUserName(uid: number | undefined, passwdFile = "/etc/passwd"): string | undefined {
  if (uid === undefined) return undefined;
  try {
    const line = readFileSync(passwdFile, "utf8")
      .split("\n")
      .find((candidate) => candidate.split(":")[2] === String(uid));
    return line?.split(":")[0] || undefined;
  } catch {
    // No passwd file (Windows; macOS keeps users in Directory Services): the name is cosmetic, fall back.
    return undefined;
  }
}

interface CaFiles {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
}

/** `now` undefined skips the expiry check (rotation of an expired CA). */
async function parseCA({ certPem, keyPem, certPath, keyPath }: CaFiles, now: Date | undefined): Promise<LocalCA> {
  let facts: ReturnType<typeof parseCertificatePem>;
  let nameConstraints: NameConstraints | undefined;
  try {
    facts = parseCertificatePem(certPem);
  } catch (error) {
    throw brokenCaError(certPath, `it is not a readable PEM certificate (${describe(error)})`, error);
  }
  try {
    nameConstraints = facts.nameConstraintsDer ? decodeNameConstraints(facts.nameConstraintsDer) : undefined;
  } catch (error) {
    throw brokenCaError(certPath, `its nameConstraints extension cannot be read (${describe(error)})`, error);
  }
  if (!facts.isCA) throw brokenCaError(certPath, "it is not a CA certificate (basicConstraints CA:true is missing)");
  if (!facts.subjectKeyIdHex) throw brokenCaError(certPath, "it has no subjectKeyIdentifier extension");
  if (now && facts.notAfter.getTime() <= now.getTime()) {
    throw brokenCaError(certPath, `it expired on ${facts.notAfter.toISOString()}`);
  }
  const signingKey = await importMatchingKey(keyPem, keyPath, facts.spki, certPath);
  const ca: LocalCA = {
    certPem,
    certPath,
    keyPath,
    subject: facts.subject,
    commonName: facts.commonName ?? facts.subject,
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    serialHex: facts.serialHex,
    fingerprintSha256: await sha256Hex(facts.der),
    nameConstraints,
  };
  issuers.set(ca, {
    subjectDer: facts.subjectDer,
    subjectKeyIdHex: facts.subjectKeyIdHex,
    notAfter: facts.notAfter,
    signingKey,
  });
  return ca;
}

/** Imports the PKCS#8 key and proves it is the private half of the certificate's public key. */
async function importMatchingKey(keyPem: string, keyPath: string, spki: ArrayBuffer, certPath: string) {
  let der: ArrayBuffer;
  let keyPoint: string;
  try {
    der = pemToDer(keyPem, "PRIVATE KEY");
    keyPoint = await publicPointOf("pkcs8", der);
  } catch (error) {
    throw brokenCaError(keyPath, `it is not a PKCS#8 ECDSA P-256 private key (${describe(error)})`, error);
  }
  let certPoint: string;
  try {
    certPoint = await publicPointOf("spki", spki);
  } catch (error) {
    throw brokenCaError(certPath, `its public key is not ECDSA P-256 (${describe(error)})`, error);
  }
  if (keyPoint !== certPoint) throw brokenCaError(keyPath, `it does not belong to the certificate ${certPath}`);
  // Re-import non-extractable: from here on the key can sign but cannot be read back out of memory.
  return crypto.subtle.importKey("pkcs8", der, EC_KEY_ALGORITHM, false, ["sign"]);
}

/** The public point "x.y" of a P-256 key. A private key's JWK carries it too, so no signature round trip is needed. */
async function publicPointOf(format: "pkcs8" | "spki", der: ArrayBuffer): Promise<string> {
  const usages: ["sign"] | ["verify"] = format === "pkcs8" ? ["sign"] : ["verify"];
  const jwk = await crypto.subtle.exportKey(
    "jwk",
    await crypto.subtle.importKey(format, der, EC_KEY_ALGORITHM, true, usages),
  );
  return `${jwk.x}.${jwk.y}`;
}

/** The file's text, or undefined when it does not exist. A refused link stays E_IO; any other failure is E_TLS. */
function readCaFile(dir: OwnedDir, name: string): string | undefined {
  const path = dir.pathOf(name);
  try {
    return dir.readText(name);
  } catch (error) {
    // A directory or a FIFO where a CA file belongs: the CA is broken (E_TLS), with the usual way out.
    if (isGotunnelError(error) && error.details?.reason === "not a file") {
      throw brokenCaError(path, "it is not a regular file", error);
    }
    if (isGotunnelError(error)) throw error;
    const code = errnoCode(error);
    if (code === "EACCES" || code === "EPERM") {
      throw new GotunnelError("E_TLS", `Cannot read the gotunnel CA file ${path}: permission denied.`, {
        hint: `It was probably created by another user (e.g. under sudo). Check \`ls -l ${dirname(path)}\` and run gotunnel as its owner.`,
        details: { path },
        cause: error,
      });
    }
    throw brokenCaError(path, `it cannot be read (${describe(error)})`, error);
  }
}

function brokenCaError(path: string, reason: string, cause?: unknown): GotunnelError {
  const dir = dirname(path);
  return new GotunnelError("E_TLS", `The gotunnel CA file ${path} is unusable: ${reason}.`, {
    hint:
      `Nothing was changed. To start over, move the directory aside (\`mv ${dir} ${dir}.broken\`) and run the ` +
      "command again: gotunnel creates a new CA, which you then have to trust again with `gotunnel trust`.",
    details: { path },
    cause,
  });
}

/**
 * Takes the creation marker, locked before it appears, and returns its descriptor (closing it drops the lock); or
 * reports (as a race) that another live process holds it.
 */
function claimCreation(dir: OwnedDir): number {
  const lock = (fd: number) => void fileLocks()?.tryLock(fd, "exclusive");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return dir.createPrepared(CREATING_MARKER, String(process.pid), CA_KEY_FILE_MODE, lock);
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw error;
      if (isBeingCreated(dir.path)) break;
      dir.remove(CREATING_MARKER); // Left by a process that died mid-creation.
    }
  }
  throw racedError(dir.pathOf(CREATING_MARKER));
}

/** loadOrCreateCA answers this one by waiting for the other process's CA (details.raced). */
function racedError(marker: string): GotunnelError {
  return new GotunnelError("E_TLS", `another gotunnel process is creating the CA in ${dirname(marker)}`, {
    hint: "Run the command again in a moment to use that CA.",
    details: { path: marker, raced: true },
  });
}

/** Writes a CA file that must not exist yet (safe-fs writeNew: link(2), never a replace); EEXIST means a race. */
function writeNewCaFile(dir: OwnedDir, name: string, data: string, mode: number): void {
  try {
    dir.writeNew(name, data, mode);
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
    const path = dir.pathOf(name);
    throw new GotunnelError("E_TLS", `${path} appeared while gotunnel was creating its CA.`, {
      hint: "Another gotunnel process created the CA at the same time. Run the command again to use that CA.",
      details: { path, raced: true },
      cause: error,
    });
  }
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
