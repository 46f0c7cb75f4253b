/**
 * The tree of commands: gotunnel's top level and each command's module, imported only when that command runs (or
 * when help or completions need the whole tree), so `gotunnel --version` loads almost nothing.
 */
import type { CommandDef } from "citty";
import { buildInfo } from "../core/build-info.ts";
import { command } from "./command.ts";

type Loader = () => Promise<CommandDef>;
const lazy =
  (load: () => Promise<{ default: unknown }>): Loader =>
  () =>
    load().then((m) => m.default as CommandDef);

export const main = command({
  meta: {
    name: "gotunnel",
    version: buildInfo().version,
    description: "Trusted HTTPS names for local dev servers: https://myapp.local → localhost:3000",
    usage: ["<command> [options]"],
    examples: [
      ["gotunnel start -d myapp -p 3000", "https://myapp.local → localhost:3000, until `gotunnel stop myapp`"],
      ["gotunnel up myapp -- npm run dev", "gotunnel starts the dev server too; Ctrl-C stops both"],
      ["gotunnel trust", "make browsers and tools trust gotunnel's CA (once)"],
      ["gotunnel help up", "one command's flags and examples"],
    ],
  },
  subCommands: {
    up: lazy(() => import("./up.ts")),
    start: lazy(() => import("./start.ts")),
    down: lazy(() => import("./down.ts")),
    stop: lazy(() => import("./stop.ts")),
    "stop-all": lazy(() => import("./stop-all.ts")),
    list: lazy(() => import("./list.ts")),
    status: lazy(() => import("./status.ts")),
    logs: lazy(() => import("./logs.ts")),
    health: lazy(() => import("./health.ts")),
    daemon: lazy(() => import("./daemon.ts")),
    ca: lazy(() => import("./ca.ts")),
    version: lazy(() => import("./version.ts")),
    trust: lazy(() => import("./trust.ts")),
    untrust: lazy(() => import("./untrust.ts")),
    env: lazy(() => import("./env.ts")),
    doctor: lazy(() => import("./doctor.ts")),
    share: lazy(() => import("./share.ts")),
    dashboard: lazy(() => import("./dashboard.ts")),
    discover: lazy(() => import("./discover.ts")),
    run: lazy(() => import("./run.ts")),
    init: lazy(() => import("./init.ts")),
    config: lazy(() => import("./config.ts")),
    service: lazy(() => import("./service.ts")),
    completion: lazy(() => import("./completion.ts")),
    help: lazy(() => import("./help.ts")),
  },
});
