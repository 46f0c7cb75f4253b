/**
 * Progress for the steps that can take more than a second (issue 19), through the compiled binary: creating the CA,
 * trusting a store, starting the daemon, and `run` starting its routes and waiting for an upstream each show a
 * spinner line on stderr when it is a terminal (a pseudo-terminal made by `script`, util-linux), which the next
 * output replaces, and nothing of it reaches a pipe.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY, binaryEnv, E2EScope, freePort, requireBinary, run, stopDaemonOf } from "../helpers/e2e.ts";
import { requireAll, requireTools } from "../helpers/tools.ts";

const scope = new E2EScope();
const pty = requireTools("script");
/** The first spinner frame (output.ts SPINNER), drawn as soon as a step starts. */
const FIRST_FRAME = "⠋";
const ANY_PORTS = { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" };

beforeAll(() => requireBinary());
afterAll(() => scope.dispose());

/** `args` in a fresh home, on a pseudo-terminal; what the terminal showed (stdout and stderr together). */
async function onTerminal(args: string[], home: string, cwd = home): Promise<string> {
  const quoted = [BINARY, ...args].map((word) => `'${word}'`).join(" ");
  const result = await run(["script", "-qec", quoted, "/dev/null"], { cwd, env: binaryEnv(home, ANY_PORTS) });
  return result.stdout;
}

/** The same on pipes: stderr, where progress would go. */
async function onPipes(args: string[], home: string, cwd = home): Promise<string> {
  const result = await run([BINARY, ...args], { cwd, env: binaryEnv(home, ANY_PORTS) });
  return result.stderr;
}

describe.skipIf(pty.skip)(pty.title("progress on a terminal, none on a pipe"), () => {
  test("creating the CA", async () => {
    const shown = await onTerminal(["ca"], scope.dir("tty"));
    expect(shown).toContain(`${FIRST_FRAME} creating gotunnel's local CA`);
    // Cleared before the path is printed: spaces over it, back to the start of the line.
    expect(shown).toMatch(/creating gotunnel's local CA\r {20,}\r.*rootCA\.pem/);
    const piped = await onPipes(["ca"], scope.dir("pipe"));
    expect(piped).toBe("");
  });

  test("starting the daemon", async () => {
    const home = scope.dir("tty-daemon");
    scope.defer(() => stopDaemonOf(home));
    expect(await onTerminal(["start", "-d", "spin", "-p", "3000"], home)).toContain("starting the gotunnel daemon");
    const other = scope.dir("pipe-daemon");
    scope.defer(() => stopDaemonOf(other));
    const piped = await onPipes(["start", "-d", "spin", "-p", "3000"], other);
    expect(piped).not.toContain("starting the gotunnel daemon");
    expect(piped).not.toContain("\r");
  });

  test("`run` starting its routes and waiting for an upstream that never answers", async () => {
    const port = await freePort();
    const project = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "late.local": port } }) });
    const args = ["run", "--wait-timeout", "1500ms", "--", "true"];
    const shown = await onTerminal(args, scope.dir("tty-run"), project);
    expect(shown).toContain("starting the routes with a temporary CA");
    expect(shown).toContain(`waiting for http://localhost:${port} (late.local) to answer (1s)`);
    expect(shown).toContain("did not answer within 1.5 s");
    const piped = await onPipes(args, scope.dir("pipe-run"), project);
    // CI logs keep their one status line per step, and no spinner.
    expect(piped).toContain(`gotunnel: waiting for http://localhost:${port} (late.local)…`);
    expect(piped).not.toContain(FIRST_FRAME);
    expect(piped).not.toContain("\r");
  });

  const nss = requireAll(pty, requireTools("certutil"));
  test.skipIf(nss.skip)(nss.title("trusting a store (NSS, in a temp HOME)"), async () => {
    const home = scope.dir("tty-trust");
    // Only --store nss: its database is under HOME, which binaryEnv points at the temp home.
    const shown = await onTerminal(["trust", "--store", "nss"], home);
    expect(shown).toContain("trusting the CA: NSS");
    const piped = await onPipes(["untrust", "--store", "nss"], home);
    expect(piped).not.toContain("untrusting the CA");
  });
});
