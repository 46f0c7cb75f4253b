/**
 * webpack-dev-server and the CLIs built on it (Angular's `ng serve`, which since Angular 17 runs Vite's server but
 * keeps the same options). Neither reads PORT. Both take `--port` and `--allowed-hosts` (webpack-dev-server 4+,
 * Angular CLI `serve` options), whose patterns match like Vite's: a leading dot allows every subdomain.
 */
import { type Framework, flagValue, hostPatterns } from "./types.ts";

const PORT_FLAGS = ["--port"] as const;

function allowedHostsArgs(names: readonly string[]): string[] {
  return hostPatterns(names).flatMap((pattern) => ["--allowed-hosts", pattern]);
}

export const ANGULAR: Framework = {
  id: "angular",
  label: "Angular",
  matches: (program, args) => program === "ng" && (args[0] === "serve" || args[0] === "s" || args[0] === "dev"),
  portInArgs: (args) => flagValue(args, PORT_FLAGS),
  portArgs: (port, names) => ["--port", String(port), ...allowedHostsArgs(names)],
  readsPortEnv: false,
  dependencies: ["@angular/cli"],
  devCommand: "npx ng serve",
};

export const WEBPACK: Framework = {
  id: "webpack",
  label: "webpack-dev-server",
  matches: (program, args) =>
    program === "webpack-dev-server" || (program === "webpack" && (args[0] === "serve" || args[0] === "s")),
  portInArgs: (args) => flagValue(args, PORT_FLAGS),
  portArgs: (port, names) => ["--port", String(port), ...allowedHostsArgs(names)],
  readsPortEnv: false,
  dependencies: ["webpack-dev-server"],
  devCommand: "npx webpack serve",
};
