/**
 * What gotunnel knows about one dev-server framework: how to recognise its command, how the port reaches it, how a
 * route's name gets allowed without touching the user's framework config, and what its refusal of a name looks
 * like. Pure data and functions, one module per framework family, so the tables can be read and unit-tested alone.
 * src/frameworks imports only core/, so the proxy (refusals), devserver (launch) and cli (doctor) can all use it.
 */

export type FrameworkId =
  | "vite"
  | "astro"
  | "nuxt"
  | "react-router"
  | "remix"
  | "next"
  | "angular"
  | "webpack"
  | "rails"
  | "django";

export interface Framework {
  id: FrameworkId;
  /** As users know it: "Vite", "Next.js". */
  label: string;
  /**
   * Does this simple command (program and arguments, wrappers such as `npx` already removed) start this framework's
   * dev server? `program` is the basename of argv[0]; `args` the rest.
   */
  matches(program: string, args: readonly string[]): boolean;
  /** The port this command already names (`--port 4000`, `-p 4000`, `runserver 0:4000`), if any. */
  portInArgs(args: readonly string[]): number | undefined;
  /** Arguments that give the server `port` and allow `names`, appended to its command; [] when the env suffices. */
  portArgs(port: number, names: readonly string[]): string[];
  /** true: the server reads PORT from its environment, so a command gotunnel cannot append to still gets the port. */
  readsPortEnv: boolean;
  /** Path prefixes for the route's rewriteOrigin (proxy/headers.ts), when the framework checks Origin there. */
  rewriteOrigin?: readonly string[];
  /** Dependency names in package.json that say a project uses it (when the command itself does not show it). */
  dependencies: readonly string[];
  /**
   * The command that starts its dev server in a project with no script for it, as `gotunnel init` writes it (a
   * JavaScript CLI through npx, which finds the project's own copy).
   */
  devCommand: string;
}

/** The value after `flag` (`--port 4000`) or in `--port=4000`; undefined when absent or not a port number. */
export function flagValue(args: readonly string[], flags: readonly string[]): number | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    for (const flag of flags) {
      const value = arg === flag ? args[i + 1] : arg.startsWith(`${flag}=`) ? arg.slice(flag.length + 1) : undefined;
      if (value !== undefined && /^\d{1,5}$/.test(value)) return Number(value);
    }
  }
  return undefined;
}

/**
 * Host patterns in the form Vite, webpack-dev-server and Angular share: a name, or `.shop.local` for a wildcard
 * route (a leading dot matches the name and every subdomain).
 */
export function hostPatterns(names: readonly string[]): string[] {
  return names.map((name) => (name.startsWith("*.") ? name.slice(1) : name));
}
