/**
 * The dashboard's LAN panel: what `gotunnel share` prints (onboarding/share.ts), from the daemon's own ports and
 * routes, and the onboarding URL's QR code as SVG for a phone to scan.
 */
import { networkInterfaces } from "node:os";
import type { ShareInfo } from "../../onboarding/share.ts";

export interface LanSource {
  routes(): readonly { name: string; https: boolean; lan?: boolean }[];
  lan: boolean | undefined;
  ports: { http: number; https: number };
  ca: { pem: string; path: string };
  /** Whether the proxy listens beyond loopback now (a route is shared). */
  reachesLan(): boolean;
}

export interface LanPanel extends ShareInfo {
  listening: boolean;
}

export async function lanPanel(source: LanSource): Promise<LanPanel> {
  const { shareInfo } = await import("../../onboarding/share.ts");
  const info = shareInfo({
    routes: source.routes(),
    ...(source.lan === undefined ? {} : { lan: source.lan }),
    ports: source.ports,
    interfaces: networkInterfaces(),
    ca: source.ca,
  });
  return { ...info, listening: source.reachesLan() };
}

/** The QR code of the onboarding URL, or undefined when there is none (no LAN address). */
export async function lanQrSvg(source: LanSource): Promise<string | undefined> {
  const { onboardingUrl } = await lanPanel(source);
  if (!onboardingUrl) return undefined;
  const { svgQr } = await import("../../onboarding/qr.ts");
  return svgQr(onboardingUrl);
}
