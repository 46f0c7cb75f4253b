/**
 * Django's `manage.py runserver [addr:]port`. The port is a positional argument, not a flag, and nothing in the
 * environment sets it. Its ALLOWED_HOSTS check has no environment override: in DEBUG with an empty list it accepts
 * only localhost names and loopback addresses, so a `.local` name needs a settings line (refusals.ts says which).
 */
import type { Framework } from "./types.ts";

/** `8000`, `127.0.0.1:8000`, `0:8000`, `[::1]:8000`. */
const ADDRPORT_RE = /^(?:(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/;

function runserverArgs(args: readonly string[]): readonly string[] {
  const at = args.indexOf("runserver");
  return at === -1 ? [] : args.slice(at + 1);
}

export const DJANGO: Framework = {
  id: "django",
  label: "Django",
  // `python manage.py runserver` reaches here as program "manage.py" (devserver/command.ts drops the interpreter).
  matches: (program, args) => (program === "manage.py" || program === "django-admin") && args.includes("runserver"),
  portInArgs: (args) => {
    const positional = runserverArgs(args).find((arg) => !arg.startsWith("-"));
    const match = positional === undefined ? null : ADDRPORT_RE.exec(positional);
    return match ? Number(match[1]) : undefined;
  },
  portArgs: (port) => [`127.0.0.1:${port}`],
  readsPortEnv: false,
  dependencies: [],
  devCommand: "python3 manage.py runserver",
};
