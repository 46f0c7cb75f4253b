/**
 * A dev server's refusal of a route's name, recognised from its answer, with the exact lines that fix it. The
 * signatures are the frameworks' own messages (quoted from their sources), so gotunnel can say "Vite refused the
 * host" instead of passing on a bare 403. Pure: the proxy (proxy/refusal.ts) and `gotunnel doctor` call it.
 */
import { hostPatterns } from "./types.ts";

/** An upstream's answer as far as recognition needs it. `status` 0: the upstream wrote no HTTP status line. */
export interface UpstreamAnswer {
  status: number;
  /** Path and query of the request. */
  path: string;
  /** The start of the body, as text. */
  body: string;
  /** The request was a WebSocket upgrade (an HMR socket). */
  upgrade: boolean;
}

export interface Refusal {
  /** "Vite", "Next.js"… */
  framework: string;
  /** What it refused, e.g. `the host name "shop.local"`. */
  refused: string;
  /** Each a complete fix, most specific first: a gotunnel config line, then the framework's own. */
  fixes: string[];
}

interface Signature {
  framework: string;
  matches(answer: UpstreamAnswer): boolean;
  refusal(route: string, pattern: string): Omit<Refusal, "framework">;
}

const isNextDevPath = (path: string) => path.startsWith("/_next/") || path.startsWith("/__nextjs");

const SIGNATURES: readonly Signature[] = [
  {
    // vite 8.4.1 dist/node/chunks/node.js hostValidationMiddleware; Angular's dev server (Vite inside) says the same.
    framework: "Vite",
    matches: (answer) => answer.status === 403 && answer.body.startsWith("Blocked request. This host ("),
    refusal: (route, pattern) => ({
      refused: `the host name "${route}"`,
      fixes: [
        `let gotunnel start it: routes["${route}"] = { command: "npm run dev" } (gotunnel then allows the name itself)`,
        `or in vite.config: server: { allowedHosts: [${JSON.stringify(pattern)}] }`,
      ],
    }),
  },
  {
    // next 16.5.0 dist/server/lib/router-utils/block-cross-site-dev.js: a 403 "Unauthorized" on HTTP; on a
    // WebSocket upgrade the bare word is written to the socket with no status line.
    framework: "Next.js",
    matches: (answer) =>
      (answer.status === 403 || (answer.status === 0 && answer.upgrade)) &&
      answer.body.trim() === "Unauthorized" &&
      isNextDevPath(answer.path),
    refusal: (route, pattern) => ({
      refused: "the page's Origin on its dev endpoints (its HMR socket, /_next/ resources)",
      fixes: [
        `in gotunnel's config: routes["${route}"].rewriteOrigin = ["/_next/", "/__nextjs"] (set for you when gotunnel starts Next)`,
        `or in next.config: allowedDevOrigins: [${JSON.stringify(pattern.replace(/^\./, "*."))}]`,
      ],
    }),
  },
  {
    // Django's CommonMiddleware/get_host: DisallowedHost, "Invalid HTTP_HOST header: … ALLOWED_HOSTS" (DEBUG page).
    framework: "Django",
    matches: (answer) => answer.status === 400 && answer.body.includes("Invalid HTTP_HOST header"),
    refusal: (route, pattern) => ({
      refused: `the host name "${route}"`,
      fixes: [
        `in settings.py: ALLOWED_HOSTS = [${JSON.stringify(pattern)}]`,
        `or in gotunnel's config: routes["${route}"].preserveHost = false (Django then sees localhost)`,
      ],
    }),
  },
  {
    // ActionDispatch::HostAuthorization: "Blocked hosts: shop.local" (text) / "Blocked host: shop.local" (HTML).
    framework: "Rails",
    matches: (answer) => answer.status === 403 && /Blocked hosts?: /.test(answer.body),
    refusal: (route, pattern) => ({
      refused: `the host name "${route}"`,
      fixes: [
        `let gotunnel start it (it sets RAILS_DEVELOPMENT_HOSTS): routes["${route}"] = { command: "bin/rails server" }`,
        `or in config/environments/development.rb: config.hosts << ${JSON.stringify(pattern)}`,
      ],
    }),
  },
  {
    // webpack-dev-server 4+/5: "Invalid Host header" (403), the same check on its WebSocket.
    framework: "webpack-dev-server",
    matches: (answer) => (answer.status === 403 || answer.status === 400) && answer.body.startsWith("Invalid Host"),
    refusal: (route, pattern) => ({
      refused: `the host name "${route}"`,
      fixes: [
        `let gotunnel start it (it adds --allowed-hosts): routes["${route}"] = { command: "npm run dev" }`,
        `or in webpack.config.js: devServer: { allowedHosts: [${JSON.stringify(pattern)}] } (Angular: "allowedHosts" in angular.json's serve options)`,
      ],
    }),
  },
];

/** The framework refusal this answer is, if any. `route` is the route's name (`*.shop.local` for a wildcard). */
export function detectRefusal(answer: UpstreamAnswer, route: string): Refusal | undefined {
  const signature = SIGNATURES.find((candidate) => candidate.matches(answer));
  if (!signature) return undefined;
  const [pattern = route] = hostPatterns([route]);
  return { framework: signature.framework, ...signature.refusal(route, pattern) };
}

/** One line for the request log: `Vite refused the host name "shop.local"; fix: …; or …`. */
export function refusalText(refusal: Refusal): string {
  return `${refusal.framework} refused ${refusal.refused}; fix: ${refusal.fixes.join("; ")}`;
}

/** Statuses a refusal can have, so the proxy reads a body only when it may be one. */
export const REFUSAL_STATUSES: ReadonlySet<number> = new Set([400, 403]);
