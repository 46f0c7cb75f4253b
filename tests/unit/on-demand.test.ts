import { describe, expect, test } from "bun:test";
import { NEW_NAMES_PER_MINUTE, onDemandCertificates, scopedName, slidingWindow } from "../../src/daemon/on-demand.ts";
import { defaultNameConstraints } from "../../src/tls/constraints.ts";

describe("scopedName", () => {
  const constraints = defaultNameConstraints(["corp.example"]);

  test("a host name under a permitted suffix, without its port, in normal form", () => {
    expect(scopedName("typo.localhost:8443", constraints)).toBe("typo.localhost");
    expect(scopedName("Typo.Local.", constraints)).toBe("typo.local");
    expect(scopedName("a.b.test", constraints)).toBe("a.b.test");
    expect(scopedName("app.corp.example", constraints)).toBe("app.corp.example");
  });

  test("nothing outside the CA's scope, no address, no bare suffix, no wildcard, nothing malformed", () => {
    const refused = ["example.com", "localhost.example", "127.0.0.1", "[::1]:443", "localhost", "local"];
    refused.push("*.x.local", "a..local", "", "a b.local", "xn--.local", "corp.example");
    expect(refused.map((host) => scopedName(host, constraints))).toEqual(refused.map(() => undefined));
  });

  test("a CA without constraints (made before them) gets the default suffixes, not every name", () => {
    expect(scopedName("typo.localhost", undefined)).toBe("typo.localhost");
    expect(scopedName("bank.com", undefined)).toBeUndefined();
    expect(scopedName("bank.com", { dnsSuffixes: [], ipRanges: ["127.0.0.0/8"] })).toBeUndefined();
  });
});

describe("slidingWindow", () => {
  test("at most `max` in any window, and more once the oldest leaves it", () => {
    let now = 1_000;
    const window = slidingWindow(3, 60_000, () => now);
    expect([window.take(), window.take(), window.take(), window.take()]).toEqual([true, true, true, false]);
    now += 59_999;
    expect(window.take()).toBe(false);
    now += 1;
    expect([window.take(), window.take(), window.take(), window.take()]).toEqual([true, true, true, false]);
  });
});

describe("onDemandCertificates", () => {
  function harness() {
    const issued: string[] = [];
    const errors: unknown[] = [];
    let applies = 0;
    let release: () => void = () => undefined;
    const covered = new Set(["route.localhost"]);
    const onDemand = onDemandCertificates({
      constraints: undefined,
      covered: (name) => covered.has(name),
      issue: async (name) => {
        issued.push(name);
        covered.add(name);
      },
      apply: () => {
        applies++;
        return new Promise<void>((resolve) => (release = resolve));
      },
      onError: (error) => errors.push(error),
      now: () => 0,
    });
    return { onDemand, issued, errors, applies: () => applies, release: () => release() };
  }

  test(`issues each new name in scope once, at most ${NEW_NAMES_PER_MINUTE} a minute; covered names cost nothing`, async () => {
    const { onDemand, issued } = harness();
    for (const host of ["route.localhost", "example.com", "a.localhost", "a.localhost:443", "A.localhost"]) {
      onDemand.noRoute(host, "127.0.0.1");
    }
    for (let i = 0; i < 3 * NEW_NAMES_PER_MINUTE; i++) onDemand.noRoute(`n${i}.localhost`, "::1");
    await Bun.sleep(0);
    expect(issued[0]).toBe("a.localhost");
    expect(issued.length).toBe(NEW_NAMES_PER_MINUTE);
  });

  test("a request from another machine issues nothing", async () => {
    const { onDemand, issued } = harness();
    for (const ip of ["192.168.1.20", "::ffff:10.0.0.2", "fe80::1"]) onDemand.noRoute("lan.localhost", ip);
    onDemand.noRoute("loop.localhost", "::ffff:127.0.0.1");
    await Bun.sleep(0);
    expect(issued).toEqual(["loop.localhost"]);
  });

  test("names issued while a swap runs share the next swap", async () => {
    const { onDemand, applies, release } = harness();
    onDemand.noRoute("one.localhost", "127.0.0.1");
    await Bun.sleep(0);
    expect(applies()).toBe(1);
    for (const name of ["two", "three", "four"]) onDemand.noRoute(`${name}.localhost`, "127.0.0.1");
    await Bun.sleep(0);
    expect(applies()).toBe(1);
    release();
    await Bun.sleep(0);
    expect(applies()).toBe(2);
    release();
    await Bun.sleep(0);
    expect(applies()).toBe(2);
  });
});
