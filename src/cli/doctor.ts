/** `gotunnel doctor trust`: which TLS clients on this machine accept a certificate from gotunnel's CA. */
import { GotunnelError } from "../core/errors.ts";
import { runningDaemon } from "../daemon/spawn.ts";
import { resolvePaths } from "../platform/paths.ts";
import { daemonArgs, daemonOverrides, jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, printPairs, printRouteCheck, success, warn } from "./output.ts";

const trust = command({
  meta: {
    name: "trust",
    description: "Serve a throwaway HTTPS page on loopback and see which clients accept it",
    examples: [["gotunnel doctor trust"], ["gotunnel doctor trust --json"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const { loadCA } = await (await import("../tls/load.ts")).loadTls();
    const ca = await loadCA(resolvePaths().caDir);
    if (!ca) {
      throw new GotunnelError("E_TLS", "gotunnel has no CA yet, so no client can trust it.", {
        hint: "Run `gotunnel trust`: it creates the CA and trusts it.",
      });
    }
    const { checkClients } = await import("../tls/truststore/doctor.ts");
    const { storeContext } = await import("../tls/truststore/index.ts");
    const { caHealth } = await import("../tls/lifecycle.ts");
    const checks = await checkClients(ca, storeContext());
    const health = caHealth(ca);
    if (args.json) {
      printJson({
        ca: { path: ca.certPath, daysLeft: health.daysLeft, warning: health.warning ?? null },
        clients: checks.map((check) => ({ ...check, accepted: check.accepted ?? null })),
      });
      return;
    }
    printPairs(
      checks.map((c) => [
        c.client,
        `${c.accepted === undefined ? "—" : c.accepted ? "accepts" : "REJECTS"} (${c.detail})`,
      ]),
    );
    if (health.warning) warn(health.warning);
    const rejected = checks.filter((check) => check.accepted === false);
    if (rejected.length === 0) success("every installed client accepts gotunnel's certificates");
    else if (rejected.some((check) => !check.client.startsWith("node")))
      info("run `gotunnel trust` to fix the rejections");
    if (rejected.some((check) => check.client.startsWith("node")))
      info('for Node: `eval "$(gotunnel env)"` sets NODE_EXTRA_CA_CERTS');
  },
});

const routes = command({
  meta: {
    name: "routes",
    description: "Does each route's dev server accept its name? Which framework refused, and the fix",
    examples: [["gotunnel doctor routes"], ["gotunnel doctor routes --json"]],
  },
  args: { ...jsonArg },
  async run({ args }) {
    const { checkRoutes } = await import("../daemon/route-check.ts");
    const checks = await checkRoutes(runningDaemon(resolvePaths()));
    if (args.json) return printJson({ routes: checks });
    if (checks.length === 0) return info("no routes: `gotunnel up` or `gotunnel start` adds some");
    for (const check of checks) printRouteCheck(check);
  },
});

const setup = command({
  meta: {
    name: "setup",
    description: "What is set up for a rootless gotunnel, and the one command that fixes each gap",
    examples: [["gotunnel doctor setup"], ["gotunnel doctor setup --json"]],
  },
  args: { ...daemonArgs, ...jsonArg },
  async run({ args }) {
    const { setupChecks } = await import("../daemon/setup-report.ts");
    const checks = await setupChecks(daemonOverrides(args));
    if (args.json) return printJson({ checks });
    printPairs(
      checks.map((check) => [
        check.name,
        `${check.ok ? "ok" : check.optional ? "optional" : "MISSING"}: ${check.detail}`,
      ]),
    );
    for (const check of checks) if (!check.ok && check.fix) info(`${check.name}: run \`${check.fix}\``);
    if (checks.every((check) => check.ok)) success("everything is set up");
  },
});

export default command({
  meta: {
    name: "doctor",
    description:
      "Check this machine's setup (`doctor setup`, the default; `doctor trust`: which clients trust the CA; `doctor routes`: dev servers)",
    examples: [
      ["gotunnel doctor", "same as `gotunnel doctor setup`: what is set up, and the command that fixes each gap"],
      ["gotunnel doctor trust", "which installed clients accept a gotunnel certificate"],
      ["gotunnel doctor routes", "which dev server refuses its route's name, and the fix"],
    ],
  },
  // The default subcommand's flags, so `gotunnel doctor --json` passes the unknown-flag check (cli/flags.ts).
  args: { ...daemonArgs, ...jsonArg },
  subCommands: { setup, trust, routes },
  default: "setup",
});
