/**
 * `gotunnel dashboard`: opens https://gotunnel.localhost (the daemon's dashboard, daemon/dashboard/) in the browser
 * when someone is at a graphical terminal, else prints its URL; starts the daemon when none runs.
 */
import { dashboardOrigin } from "../core/dashboard.ts";
import { ensureDaemon } from "../daemon/spawn.ts";
import { canOpenBrowser, openUrl } from "../platform/open-url.ts";
import { resolvePaths } from "../platform/paths.ts";
import { globalArgs, jsonArg, loadCommandConfig, overridesFrom } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, printLine, warn, withProgress } from "./output.ts";

export default command({
  meta: {
    name: "dashboard",
    description: "Open the dashboard (routes, live requests, trust, LAN sharing) at https://gotunnel.localhost",
    examples: [
      ["gotunnel dashboard", "opens it in your browser, or prints the URL when there is no display"],
      ["gotunnel dashboard --no-open", "only print the URL"],
      ["gotunnel dashboard --json", 'prints {"url": …}'],
    ],
  },
  args: {
    ...globalArgs,
    ...jsonArg,
    open: { type: "boolean", default: true, description: "Open it in the browser; --no-open only prints the URL" },
  },
  async run({ args }) {
    const { config } = await loadCommandConfig(overridesFrom(args));
    const client = await withProgress((progress) =>
      ensureDaemon(resolvePaths(), config, () => progress.step("starting the gotunnel daemon")),
    );
    const status = await client.status();
    const url = `${dashboardOrigin(status.ports.https)}/`;
    if (args.json) return printJson({ url });
    const context = { platform: process.platform, env: process.env, isTTY: process.stdout.isTTY === true };
    if (args.open && canOpenBrowser(context)) {
      if (openUrl(url)) return info(`opening ${url}`);
      warn("no browser opener found (xdg-open, open or start): open the URL yourself");
    }
    printLine(url);
  },
});
