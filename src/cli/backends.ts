/**
 * `start`'s backends: every `-p/--port` and `--target` in the order given (citty keeps only the last of a repeated
 * flag, so they are read from the raw words), and `--policy`. One backend is a route's `target`; several are its
 * `targets` (config/backends.ts).
 */
import { BALANCE_POLICIES, type BalancePolicy, MAX_TARGETS } from "../config/backends.ts";
import { parseTarget, UPSTREAM_PORT_MIN } from "../config/domain.ts";
import { GotunnelError } from "../core/errors.ts";
import { portFlag } from "./args.ts";

const FLAGS: Readonly<Record<string, "port" | "target">> = { "-p": "port", "--port": "port", "--target": "target" };

/** The values of `-p`, `--port` and `--target`, in command-line order (`--port=N` forms included). */
export function backendWords(rawArgs: readonly string[]): { flag: "port" | "target"; value: string }[] {
  const found: { flag: "port" | "target"; value: string }[] = [];
  for (let index = 0; index < rawArgs.length; index++) {
    const word = rawArgs[index] as string;
    if (word === "--") break;
    const eq = word.indexOf("=");
    const name = eq === -1 ? word : word.slice(0, eq);
    const flag = FLAGS[name];
    if (flag === undefined) continue;
    if (eq !== -1) found.push({ flag, value: word.slice(eq + 1) });
    else if (rawArgs[index + 1] !== undefined) found.push({ flag, value: rawArgs[++index] as string });
  }
  return found;
}

/** The route's target(s) as config values: a port number or a URL string each. Throws E_USAGE naming the flag. */
export function backendsFrom(rawArgs: readonly string[]): (number | string)[] {
  const words = backendWords(rawArgs);
  if (words.length === 0) {
    // Worded as citty words its own missing flags (main.ts), since --port is required unless --target is given.
    throw new GotunnelError("E_USAGE", "missing required argument: --port (or --target URL)", {
      hint: "run `gotunnel help start` for its flags and examples (several backends: `-p 8080 -p 8081`)",
    });
  }
  if (words.length > MAX_TARGETS) {
    throw new GotunnelError("E_USAGE", `a route has at most ${MAX_TARGETS} backends, got ${words.length}`, {
      hint: "give fewer --port/--target flags",
    });
  }
  return words.map(({ flag, value }) => {
    if (flag === "port") {
      const port = portFlag("port", value);
      if (port === undefined || port < UPSTREAM_PORT_MIN) {
        throw new GotunnelError("E_USAGE", "--port must be your dev server's port, from 1 to 65535", {
          hint: "e.g. `gotunnel start --domain myapp --port 3000`",
        });
      }
      return port;
    }
    const parsed = parseTarget(value);
    if (typeof parsed === "string") {
      throw new GotunnelError("E_USAGE", `--target ${JSON.stringify(value)}: ${parsed}`, {
        hint: 'e.g. `--target http://127.0.0.1:8080` or `--target "localhost:3000"`',
      });
    }
    return value;
  });
}

/** `--policy`, checked; undefined when not given. */
export function policyFlag(value: string | undefined, backends: number): BalancePolicy | undefined {
  if (value === undefined) return undefined;
  const policy = BALANCE_POLICIES.find((name) => name === value);
  if (policy === undefined) {
    throw new GotunnelError("E_USAGE", `--policy ${JSON.stringify(value)} is not a policy`, {
      hint: `use one of ${BALANCE_POLICIES.join(", ")}`,
    });
  }
  if (backends < 2) {
    throw new GotunnelError("E_USAGE", "--policy needs several backends", {
      hint: "give several: e.g. `gotunnel start -d api -p 8080 -p 8081 --policy first`",
    });
  }
  return policy;
}
