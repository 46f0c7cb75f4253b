/**
 * The Sentry scrubber (src/telemetry/scrub.ts) and the report seam's tags (report.ts, sentry.ts errorTags).
 * Examples pin each rule; a seeded property test embeds thousands of random domains, IPs, URLs, paths and user names
 * in random messages and event fields and checks that none survives, while error codes, versions and stack function
 * names do. Reproduce a failure with SCRUB_FUZZ_SEED=<seed printed in the error>.
 */
import { describe, expect, test } from "bun:test";
import { GotunnelError } from "../../src/core/errors.ts";
import { categoryOf, NO_REPORTER } from "../../src/telemetry/report.ts";
import { scrubEvent, scrubSecrets, textScrubber } from "../../src/telemetry/scrub.ts";
import { errorTags, releaseName } from "../../src/telemetry/sentry.ts";
import { prng } from "../helpers/prng.ts";

const SECRETS = { paths: ["/home/ana", "/srv/gt-home"], users: ["ana", "sudoer"], hosts: ["ana-laptop"] };
const scrub = textScrubber(SECRETS);

describe("text", () => {
  const cases: [string, string][] = [
    ["open '/home/ana/projects/x/hosts' failed", "open '<path>' failed"],
    ["GOTUNNEL_HOME=/srv/gt-home/state", "GOTUNNEL_HOME=<path>"],
    ["ENOTDIR: not a directory, lstat '/tmp/a b/c'", "ENOTDIR: not a directory, lstat '<path> b/c'"],
    ["C:\\Users\\Ana\\AppData\\gotunnel failed", "<path> failed"],
    ["see ~/code/app", "see <path>"],
    ["\\\\fileserver\\share\\x", "<path>"],
    ["https://myapp.local:8443/api?q=1 timed out", "<url> timed out"],
    ["connect ECONNREFUSED 127.0.0.1:3000", "connect ECONNREFUSED <ip>:3000"],
    ["bound [::1]:443 and fe80::1%eth0 and 2001:db8:0:0:0:0:0:1", "bound <ip>:443 and <ip> and <ip>"],
    ["::ffff:192.168.1.2 refused", "<ip> refused"],
    ["secret-project.local, api.test and *.shop.localhost", "<domain>, <domain> and *.<domain>"],
    ["café.local failed", "<domain> failed"],
    ["user ana (sudo by sudoer) on ana-laptop", "user <user> (sudo by <user>) on <host>"],
    ["banana and Ana", "banana and <user>"],
    ["E_IO: exit 8, gotunnel 0.1.0 at 12:30:45", "E_IO: exit 8, gotunnel 0.1.0 at 12:30:45"],
    ["GET /api/users 500", "GET <path> 500"],
    ["a/b and 1/2 stay", "a/b and 1/2 stay"],
    // Credentials outside any URL or path pattern: the shared redaction (core/redact.ts) runs first.
    ["bad target x?api_key=k3y&page=2", "bad target x?api_key=REDACTED&page=2"],
    ["https://user:pass@collector.test/?token=t", "<url>"],
  ];
  for (const [input, expected] of cases) test(JSON.stringify(input), () => expect(scrub(input)).toBe(expected));
});

describe("events", () => {
  const event = {
    event_id: "abc",
    level: "error",
    release: "gotunnel@0.1.0+3f2a9c1d",
    environment: "production",
    server_name: "ana-laptop.example.com",
    user: { ip_address: "10.0.0.2", username: "ana" },
    request: { url: "https://myapp.local/" },
    message: "hosts file /etc/hosts: myapp.local",
    tags: { component: "hosts", category: "io", route: "myapp.local" },
    extra: { "myapp.local": 1, list: ["10.1.2.3", { deep: "/home/ana/x" }] },
    contexts: { trace: { trace_id: "0af7651916cd43dd8448eb211c80319c", op: "gotunnel.daemon" } },
    breadcrumbs: [{ message: "GET https://myapp.local/" }],
    spans: [
      { description: "connect 192.168.0.9", data: { "sentry.op": "gotunnel.daemon", "server.address": "x.local" } },
    ],
    sdk: { name: "sentry.javascript.bun", version: "11.8.0" },
    exception: {
      values: [
        {
          type: "GotunnelError",
          value: "Cannot update /home/ana/hosts (ENOTDIR)",
          stacktrace: {
            frames: [
              { filename: "src/daemon/service.ts", module: "service", function: "writeHosts", lineno: 1 },
              {
                filename: "/home/ana/gotunnel/src/x.ts",
                abs_path: "/home/ana/x.ts",
                function: "f",
                vars: { a: "b.local" },
              },
              { filename: "src/../../home/ana/y.ts", function: "g", context_line: "const host = 'app.local'" },
            ],
          },
        },
      ],
    },
    sdkProcessingMetadata: { kept: "in process only: x.local" },
  };
  const out = scrubEvent(event, scrub);

  test("request, user and server_name are dropped", () => {
    expect(out).not.toHaveProperty("request");
    expect(out).not.toHaveProperty("user");
    expect(out).not.toHaveProperty("server_name");
  });

  test("every other string and free-form key is rewritten; SDK vocabulary stays", () => {
    const { sdkProcessingMetadata, ...sent } = out;
    const text = JSON.stringify(sent);
    for (const secret of ["myapp.local", "10.0.0.2", "10.1.2.3", "192.168.0.9", "/home/ana", "x.local", "b.local"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain("app.local");
    expect(out.tags).toEqual({ component: "hosts", category: "io", route: "<domain>" });
    expect(out.extra as unknown).toEqual({ "<domain>": 1, list: ["<ip>", { deep: "<path>" }] });
    expect(out.release).toBe(event.release);
    expect(out.sdk).toEqual(event.sdk);
    expect(out.contexts).toEqual(event.contexts);
    expect(out.spans[0]?.data).toEqual({ "sentry.op": "gotunnel.daemon", "server.address": "<domain>" });
    // The SDK's scratch space is not serialized into the envelope; it is passed through untouched.
    expect(sdkProcessingMetadata).toBe(event.sdkProcessingMetadata);
  });

  test("stack frames: function names kept; our bundle's source paths kept, anything else scrubbed", () => {
    const frames = out.exception.values[0]?.stacktrace.frames ?? [];
    expect(frames[0]).toEqual(event.exception.values[0]?.stacktrace.frames[0] as never);
    expect(frames[1]).toMatchObject({ filename: "<path>", abs_path: "<path>", function: "f", vars: { a: "<domain>" } });
    expect(frames[2]).toMatchObject({ function: "g", context_line: "const host = '<domain>'" });
    expect(frames[2]?.filename).not.toContain("ana");
    expect(out.exception.values[0]?.value).toBe("Cannot update <path> (ENOTDIR)");
  });

  test("the event is copied, not changed in place", () => {
    expect(event.message).toBe("hosts file /etc/hosts: myapp.local");
    expect(event.user.username).toBe("ana");
  });
});

describe("property: generated secrets never survive", () => {
  const CASES = 2000;
  const seed = Number(process.env.SCRUB_FUZZ_SEED ?? 20_261_124);

  test(`${CASES} random messages (seed ${seed})`, () => {
    const random = prng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const int = (max: number) => Math.floor(random() * max);
    /** Every label of the current case: none may survive as a word, not only the whole secret. */
    let labels: string[] = [];
    const label = () => {
      const made =
        Array.from({ length: 1 + int(10) }, () => pick([..."abcdefghijklmnopqrstuvwxyz0123456789"])).join("") +
        pick(["", "-x", "-dev", "ü"]);
      labels.push(made);
      return made;
    };
    const user = () => `u${label().replace(/[^a-z0-9]/g, "")}z`;
    const generators: Record<string, () => string> = {
      domain: () =>
        `${Array.from({ length: 1 + int(3) }, label).join(".")}.${pick(["local", "localhost", "test", "com", "home.arpa", "internal", "dev"])}`,
      ipv4: () => Array.from({ length: 4 }, () => int(256)).join("."),
      ipv6: () =>
        pick([
          () => `fe80::${int(0xffff).toString(16)}:${int(0xffff).toString(16)}`,
          () => Array.from({ length: 8 }, () => int(0xffff).toString(16)).join(":"),
          () => `[::1]:${int(65_536)}`,
          () => `2001:db8::${int(0xffff).toString(16)}`,
        ])(),
      url: () =>
        `${pick(["http", "https", "ws", "file"])}://${label()}.${pick(["local", "io"])}/${label()}?${label()}=1`,
      unixPath: () =>
        `/${pick(["home", "Users", "root", "tmp", "var/lib", "etc"])}/${label()}/${label()}.${pick(["ts", "json", "hosts"])}`,
      windowsPath: () => `${pick(["C", "D"])}:\\Users\\${label()}\\${label()}`,
    };
    const wrappers = [
      (secret: string) => `failed: ${secret}`,
      (secret: string) => `open '${secret}'`,
      (secret: string) => `(${secret})`,
      (secret: string) => `"${secret}": E_IO`,
      (secret: string) => `x=${secret}, y`,
      (secret: string) => `${secret}\nnext line`,
    ];
    for (let i = 0; i < CASES; i++) {
      labels = [];
      const kind = pick(Object.keys(generators));
      const secret = generators[kind]?.() ?? "";
      const name = user();
      const scrubber = textScrubber({ paths: [], users: [name], hosts: [] });
      const message = `${pick(wrappers)(secret)} by ${name} E_IO exit 8 gotunnel@0.1.0`;
      const event = scrubEvent(
        {
          message,
          tags: { where: secret },
          exception: {
            values: [{ value: message, stacktrace: { frames: [{ function: "writeHosts", filename: secret }] } }],
          },
        },
        scrubber,
      );
      const text = JSON.stringify(event);
      const core = secret.replace(/^\[|\]:\d+$/g, "");
      const survivor = labels.find(
        (made) => made.length >= 4 && new RegExp(`(?<![\\p{L}\\p{N}])${made}(?![\\p{L}\\p{N}])`, "u").test(text),
      );
      if (text.includes(core) || text.includes(name) || survivor) {
        throw new Error(`seed ${seed}, case ${i}: ${kind} ${JSON.stringify(secret)} survived in ${text}`);
      }
      expect(text).toContain("E_IO exit 8");
      expect(text).toContain("writeHosts");
    }
  });
});

describe("secrets of this machine", () => {
  test("home, GOTUNNEL_HOME and the login names from the environment", () => {
    const found = scrubSecrets({
      HOME: "/home/ana",
      GOTUNNEL_HOME: "/srv/gt",
      USER: "ana",
      SUDO_USER: "bob",
      LOGNAME: "ana",
    });
    expect(found.paths).toEqual(expect.arrayContaining(["/home/ana", "/srv/gt"]));
    expect(found.users).toEqual(expect.arrayContaining(["ana", "bob"]));
    expect(found.hosts.length).toBeGreaterThan(0);
  });
});

describe("report seam", () => {
  test("category from the error code; anything that is not a GotunnelError is internal", () => {
    expect(categoryOf(new GotunnelError("E_IO", "x"))).toBe("io");
    expect(categoryOf(new GotunnelError("E_PORT_IN_USE", "x"))).toBe("port");
    expect(categoryOf(new GotunnelError("E_CONFIG_INVALID", "x"))).toBe("config");
    expect(categoryOf(new TypeError("x"))).toBe("internal");
    expect(categoryOf("a string")).toBe("internal");
  });

  test("tags: component, category, error code, trace id; nothing else", () => {
    const trace = "0af7651916cd43dd8448eb211c80319c";
    expect(errorTags(new GotunnelError("E_TLS", "x"), { component: "tls" }, trace)).toEqual({
      component: "tls",
      category: "tls",
      error_code: "E_TLS",
      trace_id: trace,
    });
    const errno = Object.assign(new Error("x"), { code: "ENOTDIR" });
    expect(errorTags(errno, { component: "proxy", category: "internal" }, undefined)).toEqual({
      component: "proxy",
      category: "internal",
    });
  });

  test("release is gotunnel@version+commit; the off reporter runs the work and sends nothing", async () => {
    expect(releaseName()).toMatch(/^gotunnel@[^+]+\+\w+$/);
    expect(await NO_REPORTER.span("x", async () => 42)).toBe(42);
    NO_REPORTER.report(new Error("x"), { component: "daemon" });
    await NO_REPORTER.flush(10);
  });
});
