/**
 * Rails. `rails server -p N` (and `bin/dev`, whose Procfile passes PORT on). Its host authorization refuses names
 * other than localhost, `.localhost` and IP addresses in development unless they are in `config.hosts`, which Rails
 * 7+ extends from RAILS_DEVELOPMENT_HOSTS (comma-separated; devserver/env.ts sets it for every command).
 */
import { type Framework, flagValue } from "./types.ts";

export const RAILS: Framework = {
  id: "rails",
  label: "Rails",
  // `bin/rails s` reaches here as program "rails" (the basename).
  matches: (program, args) => program === "rails" && (args[0] === "server" || args[0] === "s"),
  portInArgs: (args) => flagValue(args, ["-p", "--port"]),
  portArgs: (port) => ["-p", String(port)],
  readsPortEnv: true,
  dependencies: [],
  devCommand: "bin/rails server",
};
