/**
 * Vite and the frameworks whose dev server is Vite's (SvelteKit runs `vite dev` itself; Astro, Nuxt, React Router
 * and Remix have their own CLIs). None reads PORT, so the port goes in as a flag; `--strictPort` makes Vite fail
 * instead of silently moving to the next port, where gotunnel would not find it.
 *
 * Names are allowed through `__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS` (devserver/env.ts sets it for every command):
 * Vite appends that comma-separated list to `server.allowedHosts` when the config leaves it a list (vite 8.4.1,
 * dist/node/chunks/node.js resolveServerOptions), and its host check then accepts the name on HTTP requests and on
 * the HMR WebSocket alike. The frameworks above build their server through Vite's createServer, so it reaches them.
 */
import { type Framework, flagValue } from "./types.ts";

const PORT_FLAGS = ["--port"] as const;

function viteLike(
  id: Framework["id"],
  label: string,
  matches: Framework["matches"],
  dependencies: string[],
  strictPort: boolean,
  devCommand: string,
): Framework {
  return {
    id,
    label,
    matches,
    portInArgs: (args) => flagValue(args, PORT_FLAGS),
    portArgs: (port) => (strictPort ? ["--port", String(port), "--strictPort"] : ["--port", String(port)]),
    readsPortEnv: false,
    dependencies,
    devCommand,
  };
}

/** Vite commands that start no dev server; anything else (`vite`, `vite dev`, `vite serve`, `vite web/`) does. */
const NOT_DEV = new Set(["build", "preview", "optimize"]);
const isViteDev = (args: readonly string[]) => !NOT_DEV.has(args[0] ?? "");

export const VITE_FRAMEWORKS: readonly Framework[] = [
  viteLike("vite", "Vite", (program, args) => program === "vite" && isViteDev(args), ["vite"], true, "npx vite"),
  viteLike(
    "astro",
    "Astro",
    (program, args) => program === "astro" && args[0] === "dev",
    ["astro"],
    false,
    "npx astro dev",
  ),
  viteLike(
    "nuxt",
    "Nuxt",
    (program, args) => (program === "nuxt" || program === "nuxi") && args[0] === "dev",
    ["nuxt"],
    false,
    "npx nuxi dev",
  ),
  viteLike(
    "react-router",
    "React Router",
    (program, args) => program === "react-router" && args[0] === "dev",
    ["@react-router/dev"],
    true,
    "npx react-router dev",
  ),
  viteLike(
    "remix",
    "Remix",
    (program, args) => program === "remix" && args[0] === "vite:dev",
    ["@remix-run/dev"],
    true,
    "npx remix vite:dev",
  ),
];
