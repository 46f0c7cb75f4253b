/**
 * The onboarding page a phone or another computer opens (over plain HTTP: it does not trust gotunnel yet): what
 * to download and where to tap, per OS, and the fingerprint to compare before trusting. One self-contained HTML
 * document with no scripts and no external resources. Menu paths are those of iOS 17–18, Android 13–15,
 * macOS 14–15 and Windows 10–11; device makers rename Android menus, so it also says what to search for.
 */
import { xmlEscape as html } from "./profile.ts";

export type Platform = "ios" | "android" | "macos" | "windows" | "linux";

export interface PageContext {
  caName: string;
  fingerprintSha256: string;
  /** Route URLs to try once the CA is trusted. */
  urls: readonly string[];
  downloads: { pem: string; crt: string; mobileconfig: string };
  /** The section to open first, from the User-Agent. */
  platform: Platform | undefined;
  /** SVG QR code of this page's own URL, so a laptop can hand it on to a phone. */
  qrSvg?: string;
  /** DNS suffixes the CA may sign for (its name constraints), e.g. ["local", "test"]. */
  permittedSuffixes?: readonly string[];
}

/** iPadOS asks for desktop pages and says "Macintosh": it gets the macOS section open, and the iOS one names it. */
export function platformOf(userAgent: string | null): Platform | undefined {
  if (!userAgent) return undefined;
  if (/iPhone|iPad|iPod/.test(userAgent)) return "ios";
  if (/Android/.test(userAgent)) return "android";
  if (/Macintosh|Mac OS X/.test(userAgent)) return "macos";
  if (/Windows/.test(userAgent)) return "windows";
  if (/Linux|X11/.test(userAgent)) return "linux";
  return undefined;
}

const link = (href: string, text: string) => `<a class="button" href="${html(href)}" download>${html(text)}</a>`;

type Downloads = PageContext["downloads"];

/** Per-OS steps; `name` is the CA's name, already escaped and in bold. */
const SECTIONS: [Platform, string, (d: Downloads, name: string) => string][] = [
  [
    "ios",
    "iPhone and iPad",
    (d, name) => `<ol>
<li>Open this page in <b>Safari</b> (other browsers cannot install profiles). ${link(d.mobileconfig, "Download the profile")} and tap <b>Allow</b>.</li>
<li>Settings → General → <b>VPN &amp; Device Management</b> → ${name} → <b>Install</b>. It says “Not Verified”: the profile is not signed; the certificate inside is what you trust.</li>
<li>Settings → General → About → <b>Certificate Trust Settings</b> → turn on ${name}. Until then Safari still warns.</li>
</ol>`,
  ],
  [
    "android",
    "Android",
    (d) => `<ol>
<li>${link(d.crt, "Download the certificate (.crt)")}</li>
<li>Settings → Security &amp; privacy → More security settings → Encryption &amp; credentials → <b>Install a certificate</b> → <b>CA certificate</b> → Install anyway → pick <code>gotunnel-ca.crt</code>. Menus differ by maker: search Settings for “CA certificate”.</li>
<li>Chrome trusts it at once. Most other apps ignore user-installed CAs unless they opt in. Older Android versions cannot resolve <code>.local</code> names.</li>
</ol>`,
  ],
  [
    "macos",
    "macOS",
    (d, name) => `<ol>
<li>${link(d.pem, "Download the certificate (.pem)")} or ${link(d.mobileconfig, "the profile")}.</li>
<li>Terminal: <code>sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ~/Downloads/gotunnel-ca.pem</code></li>
<li>Or open the profile, then System Settings → General → Device Management → ${name} → Install.</li>
</ol>`,
  ],
  [
    "windows",
    "Windows",
    (d) => `<ol>
<li>${link(d.crt, "Download the certificate (.crt)")}</li>
<li>PowerShell: <code>Import-Certificate -FilePath "$env:USERPROFILE\\Downloads\\gotunnel-ca.crt" -CertStoreLocation Cert:\\CurrentUser\\Root</code> and confirm the dialog.</li>
<li>Or double-click the file → Install Certificate → Current User → Place all certificates in: <b>Trusted Root Certification Authorities</b>.</li>
</ol>`,
  ],
  [
    "linux",
    "Linux",
    (d) => `<ol>
<li>${link(d.pem, "Download the certificate (.pem)")}</li>
<li>Debian/Ubuntu: <code>sudo cp ~/Downloads/gotunnel-ca.pem /usr/local/share/ca-certificates/gotunnel-ca.crt &amp;&amp; sudo update-ca-certificates</code>. Firefox and Chrome keep their own store: import it under Settings → Certificates.</li>
</ol>`,
  ],
];

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;color:#222}
code{background:#f2f2f2;padding:0 .2em;word-break:break-all}details{border:1px solid #ddd;border-radius:8px;margin:.5rem 0;padding:.3rem .8rem}
summary{font-weight:600;cursor:pointer}.button{display:inline-block;background:#1a73e8;color:#fff;padding:.2rem .7rem;border-radius:6px;text-decoration:none}
.fp{font-family:monospace;font-size:.85rem;word-break:break-all}svg{width:10rem;height:10rem}`;

export function onboardingPage(ctx: PageContext): string {
  const urls = ctx.urls.map((url) => `<li><a href="${html(url)}">${html(url)}</a></li>`).join("");
  const scope = ctx.permittedSuffixes?.length
    ? `<p>This CA can only vouch for names under ${ctx.permittedSuffixes.map((s) => `<code>.${html(s)}</code>`).join(", ")} and private IP addresses.</p>`
    : "";
  const name = `<b>${html(ctx.caName)}</b>`;
  const details = SECTIONS.map(([id, title, steps]) => [id, title, steps(ctx.downloads, name)])
    .map(
      ([id, title, body]) =>
        `<details id="${id}"${id === ctx.platform ? " open" : ""}><summary>${title}</summary>${body}</details>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Trust gotunnel on this device</title><style>${STYLE}</style></head>
<body>
<h1>Trust gotunnel on this device</h1>
<p>The dev servers on this network use HTTPS certificates from <b>${html(ctx.caName)}</b>, a certificate authority that exists only on the developer's computer. Install it once on this device and they open without warnings.</p>
<p>This page comes over plain HTTP, so compare before you trust: the SHA-256 fingerprint your device shows must be</p>
<p class="fp">${html(ctx.fingerprintSha256)}</p>
<p>as printed by <code>gotunnel share</code> on the developer's computer.</p>${scope}
${details}
${urls ? `<h2>Then open</h2><ul>${urls}</ul>` : ""}
${ctx.qrSvg ? `<h2>On another device</h2><p>Scan to open this page:</p>${ctx.qrSvg}` : ""}
</body></html>
`;
}
