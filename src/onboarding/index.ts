/**
 * src/onboarding owns getting another device to trust gotunnel's CA in one scan: the page under `/_gotunnel/`,
 * the downloads it links (PEM, DER `.crt`, iOS `.mobileconfig`), the QR codes, and the facts `gotunnel share`
 * prints. Everything here is a pure function returning a Response or a string; the daemon mounts
 * `onboardingResponse` on its plain-HTTP listener, for every Host, before any redirect to HTTPS (the device does
 * not trust our certificates yet, so this must work over HTTP).
 */
import { type CaCertificate, caCertificate } from "./certificate.ts";
import { onboardingPage, platformOf } from "./page.ts";
import { mobileconfig } from "./profile.ts";
import { svgQr } from "./qr.ts";
import { DOWNLOADS, ONBOARDING_PATH } from "./urls.ts";

export const DEFAULT_CA_NAME = "gotunnel local CA";

export interface OnboardingContext {
  /** The CA certificate, PEM (LocalCA.certPem). */
  caPem: string;
  /** Shown on the page and as the profile's name; LocalCA.commonName. */
  caName?: string;
  /** Route URLs to open once the CA is trusted. */
  urls: readonly string[];
  /** DNS suffixes the CA may sign for (LocalCA.nameConstraints.dnsSuffixes), shown to reassure. */
  permittedSuffixes?: readonly string[];
}

/** Security headers for everything served here: no scripts, no framing, nothing cached across CA rotations. */
const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

/**
 * The onboarding response for `req`, or undefined when the path is not ours (the caller goes on routing).
 * `/_gotunnel` redirects to `/_gotunnel/`; only GET and HEAD are allowed.
 */
export function onboardingResponse(req: Request, ctx: OnboardingContext): Response | undefined {
  const url = new URL(req.url);
  if (url.pathname === ONBOARDING_PATH.slice(0, -1)) {
    return new Response(null, { status: 308, headers: { ...COMMON_HEADERS, location: ONBOARDING_PATH } });
  }
  if (!url.pathname.startsWith(ONBOARDING_PATH)) return undefined;
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("Method Not Allowed\n", { status: 405, headers: { ...COMMON_HEADERS, allow: "GET, HEAD" } });
  }
  const file = url.pathname.slice(ONBOARDING_PATH.length);
  const ca = caCertificate(ctx.caPem);
  const found = file === "" ? page(req, url, ca, ctx) : download(file, ca, ctx);
  if (!found)
    return new Response("Not Found\n", { status: 404, headers: { ...COMMON_HEADERS, "content-type": "text/plain" } });
  const [body, headers] = found;
  return new Response(req.method === "HEAD" ? null : body, { status: 200, headers: { ...COMMON_HEADERS, ...headers } });
}

type Found = [body: string | Uint8Array, headers: Record<string, string>];

function page(req: Request, url: URL, ca: CaCertificate, ctx: OnboardingContext): Found {
  const html = onboardingPage({
    caName: ctx.caName ?? DEFAULT_CA_NAME,
    fingerprintSha256: ca.fingerprintSha256,
    urls: ctx.urls,
    downloads: {
      pem: `${ONBOARDING_PATH}${DOWNLOADS.pem}`,
      crt: `${ONBOARDING_PATH}${DOWNLOADS.crt}`,
      mobileconfig: `${ONBOARDING_PATH}${DOWNLOADS.mobileconfig}`,
    },
    platform: platformOf(req.headers.get("user-agent")),
    qrSvg: svgQr(new URL(ONBOARDING_PATH, url).href),
    permittedSuffixes: ctx.permittedSuffixes,
  });
  return [html, { "content-type": "text/html; charset=utf-8", "content-security-policy": PAGE_CSP }];
}

function attachment(name: string): string {
  return `attachment; filename="${name}"`;
}

/**
 * Content types devices act on: iOS Safari offers to install `application/x-apple-aspen-config`; Android and
 * Windows recognise `application/x-x509-ca-cert` as a CA certificate (DER, as Android requires).
 */
function download(file: string, ca: CaCertificate, ctx: OnboardingContext): Found | undefined {
  if (file === DOWNLOADS.pem) {
    return [ca.pem, { "content-type": "application/x-pem-file", "content-disposition": attachment(file) }];
  }
  if (file === DOWNLOADS.crt) {
    return [ca.der, { "content-type": "application/x-x509-ca-cert", "content-disposition": attachment(file) }];
  }
  if (file === DOWNLOADS.mobileconfig) {
    const profile = mobileconfig(ca, { displayName: ctx.caName ?? DEFAULT_CA_NAME });
    return [profile, { "content-type": "application/x-apple-aspen-config", "content-disposition": attachment(file) }];
  }
  return undefined;
}

export { type CaCertificate, caCertificate } from "./certificate.ts";
export { mobileconfig } from "./profile.ts";
export { type ShareInfo, shareInfo } from "./share.ts";
export { DOWNLOADS, ONBOARDING_PATH } from "./urls.ts";
