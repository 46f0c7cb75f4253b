/**
 * What the login service runs: `gotunnel daemon` as this user, with the flags the user gave `service install` and the
 * variables that decide where gotunnel's files are, so the service's daemon and the user's commands meet at the same
 * socket. Everything else (telemetry, log format) belongs in the user config file, which the daemon reads itself.
 */
import type { ServiceSpec } from "./types.ts";

/** Variables the daemon must see as the installing shell did: its paths, its hosts file, its LAN and admin policy. */
export const CARRIED_ENV = [
  "GOTUNNEL_HOME",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "XDG_STATE_HOME",
  "GOTUNNEL_HOSTS_FILE",
  "GOTUNNEL_LAN",
  "GOTUNNEL_ADMIN_PORT",
] as const;

export interface SpecOptions {
  /** How to run gotunnel (daemon/spawn.ts selfCommand): the binary, or bun and the entry script. */
  command: string[];
  /** Flags for the daemon, e.g. `--proxy-https-port=8443`, only those the user chose. */
  flags: string[];
  env: Record<string, string | undefined>;
  stateDir: string;
}

export function serviceSpec(options: SpecOptions): ServiceSpec {
  const [program, ...rest] = options.command;
  if (program === undefined) throw new Error("serviceSpec: empty command");
  const env: Record<string, string> = {};
  for (const name of CARRIED_ENV) {
    const value = options.env[name];
    if (value) env[name] = value;
  }
  return { program, args: [...rest, "daemon", ...options.flags], env, workingDir: options.stateDir };
}
