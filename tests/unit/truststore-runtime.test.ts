/**
 * Runtime trust without touching a store: the CA bundle file (system roots + our CA) and `gotunnel env`'s variables,
 * quoted so that any path survives each shell. Here character by character; tests/integration/truststore-linux
 * also evals the compiled binary's output in real bash and dash, with a path full of quotes, spaces and `$`.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILTIN_ROOTS,
  CA_BUNDLE_FILE,
  defaultShell,
  renderEnv,
  runtimeTrustEnv,
  writeCaBundle,
} from "../../src/tls/bundle.ts";

const CA_PEM = "-----BEGIN CERTIFICATE-----\nOURCA\n-----END CERTIFICATE-----\n";
const ROOT_PEM = "-----BEGIN CERTIFICATE-----\nSYSTEMROOT\n-----END CERTIFICATE-----\n";

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-bundle-"));
  temps.push(dir);
  return dir;
}

describe("CA bundle", () => {
  test("system roots then our CA, mode 0644, rewritten in place on the next call", async () => {
    const dir = temp();
    const system = join(dir, "ca-certificates.crt");
    writeFileSync(system, ROOT_PEM);
    const options = { caPem: CA_PEM, dataDir: dir, systemBundles: [join(dir, "missing.crt"), system] };
    const written = await writeCaBundle(options);
    expect(written).toEqual({ path: join(dir, CA_BUNDLE_FILE), source: system });
    expect(readFileSync(written.path, "utf8")).toBe(`${ROOT_PEM}${CA_PEM}`);
    expect(statSync(written.path).mode & 0o777).toBe(0o644);
    writeFileSync(system, `${ROOT_PEM}${ROOT_PEM}`);
    await writeCaBundle(options);
    expect(readFileSync(written.path, "utf8")).toBe(`${ROOT_PEM}${ROOT_PEM}${CA_PEM}`);
  });

  test("not duplicated when the system bundle already has our CA (after `gotunnel trust`)", async () => {
    const dir = temp();
    const system = join(dir, "bundle.pem");
    writeFileSync(system, `${ROOT_PEM}${CA_PEM}`);
    const written = await writeCaBundle({ caPem: CA_PEM, dataDir: dir, systemBundles: [system] });
    expect(readFileSync(written.path, "utf8")).toBe(`${ROOT_PEM}${CA_PEM}`);
  });

  test("no OS bundle (Windows): the runtime's built-in Mozilla roots", async () => {
    const dir = temp();
    const written = await writeCaBundle({ caPem: CA_PEM, dataDir: dir, systemBundles: [] });
    const text = readFileSync(written.path, "utf8");
    expect(written.source).toBe(BUILTIN_ROOTS);
    expect(text.match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(100);
    expect(text).toEndWith(CA_PEM);
  });
});

describe("gotunnel env", () => {
  const vars = runtimeTrustEnv("/ca/rootCA.pem", "/data/ca-bundle.pem");

  test("additive variables get our CA, replacing ones get the bundle", () => {
    expect(Object.fromEntries(vars)).toEqual({
      NODE_EXTRA_CA_CERTS: "/ca/rootCA.pem",
      SSL_CERT_FILE: "/data/ca-bundle.pem",
      REQUESTS_CA_BUNDLE: "/data/ca-bundle.pem",
      CURL_CA_BUNDLE: "/data/ca-bundle.pem",
      DENO_CERT: "/ca/rootCA.pem",
    });
  });

  test("one assignment per line in each shell's syntax", () => {
    const first = vars.slice(0, 1);
    expect(renderEnv(first, "bash")).toBe("export NODE_EXTRA_CA_CERTS='/ca/rootCA.pem'");
    expect(renderEnv(first, "zsh")).toBe("export NODE_EXTRA_CA_CERTS='/ca/rootCA.pem'");
    expect(renderEnv(first, "fish")).toBe("set -gx NODE_EXTRA_CA_CERTS '/ca/rootCA.pem'");
    expect(renderEnv(first, "powershell")).toBe("$env:NODE_EXTRA_CA_CERTS = '/ca/rootCA.pem'");
    expect(renderEnv(vars, "bash").split("\n")).toHaveLength(5);
  });

  test("quotes, spaces, $ and backslashes survive: each shell's own escape rules", () => {
    const nasty: [string, string][] = [["X", `C:\\Users\\O'Brien $HOME/a b`]];
    expect(renderEnv(nasty, "bash")).toBe(`export X='C:\\Users\\O'\\''Brien $HOME/a b'`);
    expect(renderEnv(nasty, "fish")).toBe(`set -gx X 'C:\\\\Users\\\\O\\'Brien $HOME/a b'`);
    expect(renderEnv(nasty, "powershell")).toBe(`$env:X = 'C:\\Users\\O''Brien $HOME/a b'`);
  });

  test("default shell: PowerShell on Windows, else $SHELL's name, else bash", () => {
    expect(defaultShell("win32", "/bin/zsh")).toBe("powershell");
    expect(defaultShell("linux", "/usr/bin/fish")).toBe("fish");
    expect(defaultShell("darwin", "/bin/zsh")).toBe("zsh");
    expect(defaultShell("linux", "/bin/tcsh")).toBe("bash");
    expect(defaultShell("linux", undefined)).toBe("bash");
  });
});
