import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import type { NetworkInterfaceInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pickLanAddress, routeUrl, shareInfo } from "../../src/onboarding/share.ts";

function info(address: string, internal = false): NetworkInterfaceInfo {
  const base = { address, netmask: "255.255.255.0", mac: "00:00:00:00:00:00", internal, cidr: null };
  return address.includes(":") ? { ...base, family: "IPv6", scopeid: 0 } : { ...base, family: "IPv4" };
}

let dir: string;
let ca: { pem: string; path: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gotunnel-share-"));
  const { loadOrCreateCA } = await (await import("../../src/tls/load.ts")).loadTls();
  const loaded = await loadOrCreateCA(join(dir, "ca"));
  ca = { pem: loaded.ca.certPem, path: loaded.ca.certPath };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pickLanAddress", () => {
  test("a private IPv4 address first, then other IPv4 (not link-local), then routable IPv6", () => {
    const lo = [info("127.0.0.1", true)];
    expect(pickLanAddress({ lo, docker0: [info("203.0.113.5")], wlan0: [info("192.168.1.20")] })).toBe("192.168.1.20");
    expect(pickLanAddress({ lo, eth0: [info("169.254.1.1"), info("203.0.113.5")] })).toBe("203.0.113.5");
    expect(pickLanAddress({ lo, eth0: [info("fe80::1"), info("fd00::7")] })).toBe("fd00::7");
    expect(pickLanAddress({ lo })).toBeUndefined();
  });
});

describe("shareInfo", () => {
  const interfaces = { wlan0: [info("192.168.1.20")] };

  test("the onboarding URL on the LAN address and HTTP port; route URLs on the HTTPS port", () => {
    const share = shareInfo({
      routes: [
        { name: "myapp.local", https: true },
        { name: "*.wild.local", https: true },
      ],
      ports: { http: 80, https: 8443 },
      interfaces,
      ca,
    });
    expect(share.onboardingUrl).toBe("http://192.168.1.20/_gotunnel/");
    expect(share.routes).toEqual([
      { name: "myapp.local", url: "https://myapp.local:8443/", lan: true },
      { name: "*.wild.local", url: "https://wild.local:8443/", lan: true },
    ]);
    expect(share.ca.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(share.warnings).toEqual([]);
  });

  test("warns about routes other devices cannot use, and about an unknown HTTP port", () => {
    const share = shareInfo({
      routes: [
        { name: "a.local", https: true, lan: false },
        { name: "b.test", https: false },
        { name: "c.local", https: true },
      ],
      lan: true,
      ports: { http: 0, https: 443 },
      interfaces: {},
      ca,
    });
    expect(share.onboardingUrl).toBeUndefined();
    expect(share.routes.map((route) => route.lan)).toEqual([false, true, true]);
    expect(share.warnings).toEqual([
      "this machine has no LAN address: connect it to Wi-Fi or Ethernet first",
      "proxy.httpPort is 0 (picked at start), so the onboarding URL is unknown",
      "a.local is not shared on the LAN (lan: false): other devices are refused",
      "b.test is not a .local name: other devices cannot find it through mDNS",
    ]);
  });

  test("the global lan setting applies to routes without their own; IPv6 hosts are bracketed", () => {
    const share = shareInfo({
      routes: [{ name: "a.local", https: true }],
      lan: false,
      ports: { http: 8080, https: 443 },
      interfaces: { eth0: [info("fd00::7")] },
      ca,
    });
    expect(share.routes[0]?.lan).toBe(false);
    expect(share.onboardingUrl).toBe("http://[fd00::7]:8080/_gotunnel/");
    expect(routeUrl({ name: "p.local", https: false }, { http: 8080, https: 443 })).toBe("http://p.local:8080/");
  });
});
