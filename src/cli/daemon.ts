/** `gotunnel daemon`: run the daemon in the foreground; `gotunnel daemon stop` stops the running one. */
import { basename, dirname, resolve } from "node:path";
import { loadConfig } from "../config/load.ts";
import { GotunnelError } from "../core/errors.ts";
import { redactSecrets } from "../core/redact.ts";
import { runDaemon } from "../daemon/daemon.ts";
import { daemonIssuer } from "../daemon/gateway.ts";
import { LOG_FILE_MODE, stopDaemon } from "../daemon/spawn.ts";
import { takeStartReport } from "../daemon/start-report.ts";
import { STATE_DIR_MODE } from "../daemon/state.ts";
import { type Paths, resolvePaths } from "../platform/paths.ts";
import { withOwnedDir } from "../platform/safe-fs.ts";
import { REPORT_FLUSH_MS, startErrorReporter } from "../telemetry/report.ts";
import { telemetrySettings } from "../telemetry/settings.ts";
import type { CertificateIssuer } from "../tls/issuer/client.ts";
import { globalArgs, overridesFrom } from "./args.ts";
import { command } from "./command.ts";
import { createDaemonLog, info, printToFile } from "./output.ts";

export default command({
  meta: {
    name: "daemon",
    description: "Run the daemon in the foreground (`gotunnel daemon stop` stops it)",
    usage: ["[options]", "stop"],
    examples: [
      ["gotunnel daemon --log-format json", "in the foreground, e.g. under systemd or in a container"],
      ["gotunnel daemon stop", "stop the running daemon; its routes come back with the next one"],
      ["gotunnel daemon --docker", "also route containers labelled gotunnel.route=NAME to their published port"],
    ],
    complete: { action: ["stop"] },
  },
  args: {
    ...globalArgs,
    action: { type: "positional", required: false, valueHint: "stop", description: "`stop`: stop the running daemon" },
    docker: {
      type: "boolean",
      description: "Route running containers labelled gotunnel.route=NAME (discovery.docker; env GOTUNNEL_DOCKER)",
    },
    "log-file": {
      type: "string",
      valueHint: "path",
      description: "Append the daemon's output to this file (the Windows login task uses it)",
    },
  },
  async run({ args }) {
    const paths = resolvePaths();
    // Taken first, so a failure anywhere below (even the config) reaches the command that started this daemon.
    const startReport = takeStartReport();
    if (args["log-file"]) printToFile(openLogFile(args["log-file"]));
    if (args.action === "stop") {
      const pid = await stopDaemon(paths);
      info(pid === undefined ? "no gotunnel daemon is running" : `stopped the gotunnel daemon (pid ${pid})`);
      return;
    }
    if (args.action !== undefined) {
      throw new GotunnelError("E_USAGE", `unknown daemon action ${JSON.stringify(args.action)}`, {
        hint: "run `gotunnel daemon` to start it in the foreground, or `gotunnel daemon stop`",
      });
    }
    try {
      await serveInForeground(paths, args, () => startReport.close());
    } catch (error) {
      startReport.failed(error);
      throw error;
    }
  },
});

/** The log file, appended to, the user's alone (it may hold request URLs), in a directory safe-fs checked. */
function openLogFile(path: string): number {
  return withOwnedDir(dirname(resolve(path)), STATE_DIR_MODE, (dir) => dir.openAppend(basename(path), LOG_FILE_MODE));
}

/** Serves until shutdown with a certificate issuer child (tls/issuer/) that ends with it. */
async function serveInForeground(
  paths: Paths,
  args: Parameters<typeof overridesFrom>[0] & { docker?: boolean },
  onReady: () => void,
) {
  // The certificate issuer child starts first: loading @peculiar/x509 there (~100 ms) overlaps the config, the state
  // and the lock here, so the first certificates cost the daemon's start little more than they did in-process.
  const issuer = daemonIssuer(paths.caDir);
  issuer.warm();
  try {
    await serveWith(paths, args, onReady, issuer);
  } finally {
    issuer.close();
  }
}

/** Loads the config and serves until shutdown; `onReady` once the daemon answers on its socket. */
async function serveWith(
  paths: Paths,
  args: Parameters<typeof overridesFrom>[0] & { docker?: boolean },
  onReady: () => void,
  issuer: CertificateIssuer,
) {
  const overrides = overridesFrom(args);
  if (args.docker) overrides.discovery = { docker: true };
  const loaded = await loadConfig({ cwd: process.cwd(), overrides });
  const { activeSpanIds } = await import("../telemetry/span-ids.ts");
  const log = createDaemonLog(loaded.config.log.format, activeSpanIds);
  for (const warning of loaded.warnings) log("warn", warning);
  const { proxy, lan, observability, discovery } = loaded.config;
  const telemetry = telemetrySettings(observability);
  const reporter = await startErrorReporter(telemetry);
  if (telemetry.sentry) log("info", `errors go to Sentry (${redactSecrets(telemetry.sentry.dsn)}), scrubbed`);
  const settings = { proxy, ...(lan === undefined ? {} : { lan }), discovery, observability };
  await runDaemon({ ...settings, paths, log, reporter, onReady, issuer })
    .catch((error: unknown) => {
      reporter.report(error, { component: "daemon" });
      throw error;
    })
    .finally(() => reporter.flush(REPORT_FLUSH_MS));
}
