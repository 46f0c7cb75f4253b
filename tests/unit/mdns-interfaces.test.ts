import { describe, expect, test } from "bun:test";
import type { NetworkInterfaceInfo } from "node:os";
import {
  advertisedAddresses,
  diffInterfaces,
  hasChanges,
  interfaceFor,
  lanInterfaces,
  type RawInterfaces,
  snapshotInterfaces,
} from "../../src/mdns/interfaces.ts";
import { isLoopback, isPrivateIPv4, sameSubnet } from "../../src/mdns/ip.ts";

function info(address: string, netmask: string, internal = false): NetworkInterfaceInfo {
  const family = address.includes(":") ? "IPv6" : "IPv4";
  const base = { address, netmask, mac: "00:00:00:00:00:00", internal, cidr: null };
  return family === "IPv4" ? { ...base, family } : { ...base, family, scopeid: 0 };
}

const RAW: RawInterfaces = {
  lo: [info("127.0.0.1", "255.0.0.0", true), info("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true)],
  wlan0: [
    info("192.168.1.20", "255.255.255.0"),
    info("fe80::1", "ffff:ffff:ffff:ffff::"),
    info("fd00:1::20", "ffff:ffff:ffff:ffff::"),
  ],
  eth0: [info("10.0.0.5", "255.255.0.0"), info("fe80::2", "ffff:ffff:ffff:ffff::")],
  down0: [],
};
const ifaces = snapshotInterfaces(RAW);

describe("interface snapshots", () => {
  test("sorted by name, addresses by family, empty interfaces dropped, loopback marked internal", () => {
    expect(ifaces.map((i) => [i.name, i.internal, i.v4.length, i.v6.length])).toEqual([
      ["eth0", false, 1, 1],
      ["lo", true, 1, 1],
      ["wlan0", false, 1, 2],
    ]);
    expect(lanInterfaces(ifaces).map((i) => i.name)).toEqual(["eth0", "wlan0"]);
  });

  test("the arrival interface comes from the zone, else the subnet (RFC 6762 §11: on-link only)", () => {
    expect(interfaceFor(ifaces, "192.168.1.77")?.name).toBe("wlan0");
    expect(interfaceFor(ifaces, "10.0.200.1")?.name).toBe("eth0");
    expect(interfaceFor(ifaces, "fd00:1::99")?.name).toBe("wlan0");
    expect(interfaceFor(ifaces, "fe80::99%eth0")?.name).toBe("eth0");
    expect(interfaceFor(ifaces, "::ffff:192.168.1.77")?.name).toBe("wlan0");
    expect(interfaceFor(ifaces, "127.0.0.1")?.name).toBe("lo");
    expect(interfaceFor(ifaces, "8.8.8.8")).toBeUndefined();
    // Both LAN interfaces have fe80::/64: without a zone it is ambiguous, so not answered.
    expect(interfaceFor(ifaces, "fe80::99")).toBeUndefined();
  });

  test("link-local IPv6 is advertised only when the interface has no routable IPv6 address", () => {
    const [eth0, , wlan0] = ifaces;
    expect(advertisedAddresses(wlan0!)).toEqual({ v4: ["192.168.1.20"], v6: ["fd00:1::20"] });
    expect(advertisedAddresses(eth0!)).toEqual({ v4: ["10.0.0.5"], v6: ["fe80::2"] });
  });

  test("diffs name added, removed and changed LAN interfaces, ignoring loopback and order", () => {
    const moved = snapshotInterfaces({
      ...RAW,
      eth0: undefined,
      wlan0: [info("192.168.1.21", "255.255.255.0"), info("fd00:1::20", "ffff:ffff:ffff:ffff::")],
      usb0: [info("172.20.10.2", "255.255.255.240")],
      lo: [info("127.0.0.1", "255.0.0.0", true)],
    });
    expect(diffInterfaces(ifaces, moved)).toEqual({ added: ["usb0"], removed: ["eth0"], changed: ["wlan0"] });
    expect(hasChanges(diffInterfaces(ifaces, snapshotInterfaces({ ...RAW })))).toBe(false);
  });
});

describe("addresses", () => {
  test("subnets, loopback and private ranges", () => {
    expect(sameSubnet("10.1.2.3", "10.1.0.1", "255.255.0.0")).toBe(true);
    expect(sameSubnet("10.2.2.3", "10.1.0.1", "255.255.0.0")).toBe(false);
    expect(sameSubnet("10.1.2.3", "fd00::1", "ffff::")).toBe(false);
    expect(["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"].every(isLoopback)).toBe(true);
    expect(["10.0.0.1", "::2", "0.0.0.0", "localhost"].some(isLoopback)).toBe(false);
    expect(["10.1.1.1", "172.16.0.1", "172.31.255.255", "192.168.0.1"].every(isPrivateIPv4)).toBe(true);
    expect(["172.32.0.1", "192.169.0.1", "8.8.8.8", "fd00::1"].some(isPrivateIPv4)).toBe(false);
  });
});
