/**
 * Where the proxy listens for ports below 1024 (platform/privileged-ports.ts), and the plan the daemon builds from it
 * (daemon/listen-plan.ts): on macOS as a user, the wildcard with a guard that refuses other machines every route
 * that is not shared; everywhere else, and for a host the user chose, what lan.ts decides today.
 */
import { describe, expect, test } from "bun:test";
import { configDefaults } from "../../src/config/schema.ts";
import { listenPlan } from "../../src/daemon/listen-plan.ts";
import { portBind, portRuleSubject } from "../../src/platform/privileged-ports.ts";
import type { ProxyRoute } from "../../src/proxy/router.ts";

const DEFAULT_HOST = undefined;
const LAN_CLIENT = "192.168.1.20";

describe("portBind", () => {
  test("macOS, not root, 443 and 80: the wildcard, guarded", () => {
    for (const port of [443, 80, 1023]) {
      expect(portBind({ platform: "darwin", uid: 501, port, configuredHost: DEFAULT_HOST })).toEqual({
        host: "0.0.0.0",
        guarded: true,
      });
    }
  });

  test("with IPv6 loopback the wildcard is the dual-stack ::, so ::1 clients are served too", () => {
    expect(portBind({ platform: "darwin", uid: 501, port: 443, configuredHost: DEFAULT_HOST, ipv6: true })).toEqual({
      host: "::",
      guarded: true,
    });
  });

  test("macOS as root, or a port from 1024 up, or port 0 (any free port): loopback as today", () => {
    const loopback = { host: "127.0.0.1", guarded: false };
    expect(portBind({ platform: "darwin", uid: 0, port: 443, configuredHost: DEFAULT_HOST })).toEqual(loopback);
    expect(portBind({ platform: "darwin", uid: 501, port: 1024, configuredHost: DEFAULT_HOST })).toEqual(loopback);
    expect(portBind({ platform: "darwin", uid: 501, port: 8443, configuredHost: DEFAULT_HOST })).toEqual(loopback);
    expect(portBind({ platform: "darwin", uid: 501, port: 0, configuredHost: DEFAULT_HOST })).toEqual(loopback);
  });

  test("Linux and Windows are unchanged: loopback, whatever the port and user", () => {
    for (const platform of ["linux", "win32"] as const) {
      for (const uid of [0, 1000, undefined]) {
        expect(portBind({ platform, uid, port: 443, configuredHost: DEFAULT_HOST, ipv6: true })).toEqual({
          host: "127.0.0.1",
          guarded: false,
        });
      }
    }
  });

  test("a proxy.host the user set is used as is, on macOS too", () => {
    for (const host of ["192.168.1.5", "0.0.0.0", "::1"]) {
      expect(portBind({ platform: "darwin", uid: 501, port: 443, configuredHost: host })).toEqual({
        host,
        guarded: false,
      });
    }
  });

  test("only GOTUNNEL_TEST_PORT_RULE=darwin-user changes whose rule applies", () => {
    expect(portRuleSubject({}, "linux", 0)).toEqual({ platform: "linux", uid: 0 });
    expect(portRuleSubject({ GOTUNNEL_TEST_PORT_RULE: "x" }, "linux", 0)).toEqual({ platform: "linux", uid: 0 });
    expect(portRuleSubject({ GOTUNNEL_TEST_PORT_RULE: "darwin-user" }, "linux", 0)).toEqual({
      platform: "darwin",
      uid: 501,
    });
  });
});

const route = (name: string, lan?: boolean): ProxyRoute => ({
  name,
  wildcard: false,
  target: { protocol: "http:", hostname: "localhost", port: 3000, origin: "http://localhost:3000" },
  https: true,
  headers: {},
  preserveHost: true,
  ...(lan === undefined ? {} : { lan }),
});

function plan(options: {
  platform: NodeJS.Platform;
  uid: number;
  host?: string;
  ports?: { https: number; http: number | null };
  served?: ProxyRoute[];
  lan?: boolean;
}) {
  const served = options.served ?? [];
  return listenPlan({
    settings: {
      proxy: { ...configDefaults().proxy, host: options.host ?? "127.0.0.1" },
      ...(options.lan === undefined ? {} : { lan: options.lan }),
    },
    ports: options.ports ?? { https: 443, http: 80 },
    platform: options.platform,
    uid: options.uid,
    loopbackV6: false,
    served: () => served,
  });
}

describe("listenPlan", () => {
  test("macOS as a user on 443/80: the wildcard whatever the routes; other machines refused while nothing is shared", () => {
    const web = route("web.localhost");
    const p = plan({ platform: "darwin", uid: 501, served: [web] });
    expect(p.bindHosts([])).toEqual(["0.0.0.0"]);
    expect(p.bindHosts([route("shared.local")])).toEqual(["0.0.0.0"]);
    expect(p.isAllowed(web, LAN_CLIENT)).toBe(false);
    expect(p.isAllowed(undefined, LAN_CLIENT)).toBe(false);
    expect(p.isAllowed(web, `::ffff:${LAN_CLIENT}`)).toBe(false);
    for (const loopback of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) expect(p.isAllowed(web, loopback)).toBe(true);
    expect(p.sharesLan(["0.0.0.0"], [web])).toBe(false);
    expect(p.note).toContain("443 and 80 only on the wildcard address");
  });

  test("once a route is shared, other machines get exactly what lanGuard gives them today", () => {
    const shared = route("shared.local");
    const hidden = route("hidden.local", false);
    const p = plan({ platform: "darwin", uid: 501, served: [shared, hidden] });
    expect(p.isAllowed(shared, LAN_CLIENT)).toBe(true);
    expect(p.isAllowed(hidden, LAN_CLIENT)).toBe(false);
    expect(p.sharesLan(["0.0.0.0"], [shared, hidden])).toBe(true);
  });

  test("the daemon's global lan: false refuses other machines every route", () => {
    const shared = route("shared.local", true);
    const p = plan({ platform: "darwin", uid: 501, served: [shared], lan: false });
    expect(p.isAllowed(shared, LAN_CLIENT)).toBe(false);
    expect(p.isAllowed(shared, "127.0.0.1")).toBe(true);
  });

  test("one port below 1024 puts both listeners on the wildcard", () => {
    const p = plan({ platform: "darwin", uid: 501, ports: { https: 443, http: 8080 } });
    expect(p.bindHosts([])).toEqual(["0.0.0.0"]);
    expect(p.note).toContain("bind 443 only");
  });

  test("macOS as root, macOS on high ports, Linux, and a host the user set: today's hosts and guard", () => {
    const cases = [
      plan({ platform: "darwin", uid: 0 }),
      plan({ platform: "darwin", uid: 501, ports: { https: 8443, http: 8080 } }),
      plan({ platform: "linux", uid: 1000 }),
      plan({ platform: "darwin", uid: 501, host: "192.168.1.5" }),
    ];
    for (const p of cases) expect(p.note).toBeUndefined();
    expect(cases[0]?.bindHosts([])).toEqual(["127.0.0.1"]);
    expect(cases[2]?.bindHosts([])).toEqual(["127.0.0.1"]);
    expect(cases[2]?.bindHosts([route("shared.local")])).toEqual(["127.0.0.1", "0.0.0.0"]);
    expect(cases[3]?.bindHosts([])).toEqual(["192.168.1.5"]);
    // Today's guard: a route left at the default is open to whoever reaches the listener.
    expect(cases[2]?.isAllowed(route("web.localhost"), LAN_CLIENT)).toBe(true);
  });
});
