/**
 * gotunnel as a user runs it: `gotunnel up` with a project config routing bench.local to the Vite server, its own
 * temp GOTUNNEL_HOME (so its own CA and daemon), ephemeral ports, the compiled binary by default. Inside the bench's
 * namespaces the route is shared on the LAN as a `.local` route is by default (the daemon listens on 0.0.0.0 and
 * answers mDNS there, where only loopback and the far link exist), so the far browser may use it as a phone would;
 * outside them `lan: false` keeps it on loopback.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gotunnelCa, gotunnelCommand } from "../lib/certs.ts";
import { pinned } from "../lib/cpu.ts";
import { gotunnelEnvironment, gotunnelVersion } from "../lib/gotunnel.ts";
import { type EnvPatch, freePort, run, spawnManaged, stopManaged, waitForLog, waitForPorts } from "../lib/proc.ts";
import { type BrowserTarget, httpsUrl, PAGE_HOST, SkipTarget, type TargetContext } from "./target.ts";

const READY_TIMEOUT_MS = 30_000;

function writeConfig(context: TargetContext): string {
  const config = {
    routes: { [PAGE_HOST]: { target: `http://127.0.0.1:${context.vitePort}` } },
    ...(context.bindHost === "127.0.0.1" ? { lan: false } : {}),
  };
  const path = join(context.dir, "gotunnel.config.json");
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** `gotunnel version`: the version with its commit, so a figure says which build it came from. */
async function buildOf(binary: string, env: EnvPatch): Promise<string> {
  const result = await run(gotunnelCommand(binary, ["version"]), 15_000, env);
  const line = result.stdout.trim().split("\n")[0];
  return result.code === 0 && line ? line : `gotunnel ${await gotunnelVersion(binary, env)}`;
}

export async function startGotunnel(context: TargetContext): Promise<BrowserTarget> {
  const binary = context.options.binary;
  if (!existsSync(binary)) throw new SkipTarget(`${binary} does not exist: run \`bun run build\` first`);
  const env = gotunnelEnvironment(join(context.dir, "gotunnel"));
  const ca = await gotunnelCa(binary, env);
  if (!ca) throw new SkipTarget("`gotunnel ca` did not print its CA certificate");
  const [httpPort, httpsPort] = [freePort(), freePort()];
  const args = ["up", "--config", writeConfig(context)];
  args.push("--proxy-http-port", String(httpPort), "--proxy-https-port", String(httpsPort));
  // `up` starts the daemon as its child: it inherits the server CPU.
  const managed = spawnManaged("gotunnel", pinned(context.cpus, "server", gotunnelCommand(binary, args)), {
    cwd: context.dir,
    env,
    logPath: join(context.dir, "gotunnel.log"),
  });
  const stop = async () => {
    await stopManaged(managed);
    await run(gotunnelCommand(binary, ["daemon", "stop"]), 15_000, env);
  };
  try {
    await waitForLog(managed, "https://", READY_TIMEOUT_MS);
    await waitForPorts(managed, [httpsPort], READY_TIMEOUT_MS);
  } catch (error) {
    await stop();
    throw new Error(`\`gotunnel up\` did not start: ${(error as Error).message}`);
  }
  return {
    name: "gotunnel",
    url: httpsUrl(httpsPort),
    caPath: ca.cert,
    version: `${await buildOf(binary, env)} (${binary}), HTTP/1.1 or h2 as that build offers`,
    stop,
  };
}
