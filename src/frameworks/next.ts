/**
 * Next.js. `next dev` reads `-p`/`--port` and PORT. Its dev server refuses any Origin but localhost, `*.localhost`
 * and `allowedDevOrigins` on its development endpoints (next 16.5.0,
 * dist/server/lib/router-utils/block-cross-site-dev.js): `/_next/*` (but not `/_next/image` and static media) and
 * `/__nextjs*`, including the HMR WebSocket `/_next/webpack-hmr` (`/_next/hmr` in Next 16). A page on `shop.local`
 * is therefore refused its own HMR socket. Pages themselves are not checked, and Server Actions compare Origin with
 * X-Forwarded-Host (which gotunnel sends), so only those prefixes need the route's `rewriteOrigin`.
 */
import { type Framework, flagValue } from "./types.ts";

export const NEXT_DEV_PATHS = ["/_next/", "/__nextjs"] as const;

export const NEXT: Framework = {
  id: "next",
  label: "Next.js",
  matches: (program, args) => program === "next" && (args[0] === "dev" || args[0] === undefined),
  portInArgs: (args) => flagValue(args, ["-p", "--port"]),
  portArgs: (port) => ["-p", String(port)],
  readsPortEnv: true,
  rewriteOrigin: NEXT_DEV_PATHS,
  dependencies: ["next"],
  devCommand: "npx next dev",
};
