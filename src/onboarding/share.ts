/**
 * What `gotunnel share` shows: the onboarding URL on this machine's LAN address, the routes to open once the CA is
 * trusted, the CA fingerprint to compare, and why a route might not be reachable from another device. A pure
 * function of the config, the ports, the interface list and the CA.
 */
import type { NetworkInterfaceInfo } from "node:os";
import { caCertificate } from "./certificate.ts";
import { ONBOARDING_PATH } from "./urls.ts";

const WILDCARD_PREFIX = "*.";
const HTTPS_DEFAULT_PORT = 443;
const HTTP_DEFAULT_PORT = 80;

export interface ShareRoute {
  name: string;
  https: boolean;
  lan?: boolean;
}

export interface ShareInput {
  routes: readonly ShareRoute[];
  /** The global `lan` setting (undefined: true). */
  lan?: boolean;
  ports: { http: number; https: number };
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
  ca: { pem: string; path: string };
}

export interface SharedRoute {
  name: string;
  url: string;
  lan: boolean;
}

export interface ShareInfo {
  lanAddress: string | undefined;
  onboardingUrl: string | undefined;
  routes: SharedRoute[];
  ca: { path: string; fingerprintSha256: string };
  warnings: string[];
}

/** RFC 1918 ranges first (what a phone on the same Wi-Fi reaches), then other IPv4, then routable IPv6. */
export function pickLanAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string | undefined {
  const all = Object.values(interfaces)
    .flatMap((infos) => infos ?? [])
    .filter((info) => !info.internal);
  const v4 = all.filter((info) => info.family === "IPv4" && !info.address.startsWith("169.254."));
  const privateV4 = v4.find((info) => /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(info.address));
  const v6 = all.find((info) => info.family === "IPv6" && !/^fe[89ab]/i.test(info.address));
  return privateV4?.address ?? v4[0]?.address ?? v6?.address;
}

function hostPort(host: string, port: number, defaultPort: number): string {
  const literal = host.includes(":") ? `[${host}]` : host;
  return port === defaultPort ? literal : `${literal}:${port}`;
}

export function routeUrl(route: ShareRoute, ports: ShareInput["ports"]): string {
  const name = route.name.startsWith(WILDCARD_PREFIX) ? route.name.slice(WILDCARD_PREFIX.length) : route.name;
  return route.https
    ? `https://${hostPort(name, ports.https, HTTPS_DEFAULT_PORT)}/`
    : `http://${hostPort(name, ports.http, HTTP_DEFAULT_PORT)}/`;
}

export function shareInfo(input: ShareInput): ShareInfo {
  const warnings: string[] = [];
  const lanAddress = pickLanAddress(input.interfaces);
  if (!lanAddress) warnings.push("this machine has no LAN address: connect it to Wi-Fi or Ethernet first");
  if (input.ports.http === 0) warnings.push("proxy.httpPort is 0 (picked at start), so the onboarding URL is unknown");
  const onboardingUrl =
    lanAddress && input.ports.http !== 0
      ? `http://${hostPort(lanAddress, input.ports.http, HTTP_DEFAULT_PORT)}${ONBOARDING_PATH}`
      : undefined;
  const routes = input.routes.map((route) => {
    const lan = route.lan ?? input.lan ?? true;
    if (!lan) warnings.push(`${route.name} is not shared on the LAN (lan: false): other devices are refused`);
    else if (!/\.local$/i.test(route.name)) {
      warnings.push(`${route.name} is not a .local name: other devices cannot find it through mDNS`);
    }
    return { name: route.name, url: routeUrl(route, input.ports), lan };
  });
  const { fingerprintSha256 } = caCertificate(input.ca.pem);
  return { lanAddress, onboardingUrl, routes, ca: { path: input.ca.path, fingerprintSha256 }, warnings };
}
