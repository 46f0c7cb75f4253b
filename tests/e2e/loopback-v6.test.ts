/**
 * The hosts block maps every name to ::1 as well as 127.0.0.1, so the compiled daemon listens on both: a client
 * that resolves the name to ::1 (curl, browsers and Node try IPv6 first) is served, on HTTPS and HTTP. On a machine
 * without IPv6 loopback (here: a network namespace with IPv6 turned off) the daemon starts and serves 127.0.0.1
 * without a warning.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryEnv, E2EScope, type Gotunnel, requireBinary, run } from "../helpers/e2e.ts";
import { type SeenRequest, startEchoUpstream, type Upstream } from "../helpers/upstreams.ts";

const scope = new E2EScope();
let gotunnel: Gotunnel;
let echo: Upstream & { seen: SeenRequest[] };

beforeAll(async () => {
  requireBinary();
  echo = startEchoUpstream();
  scope.defer(echo.stop);
  const dir = scope.project({ "gotunnel.config.json": JSON.stringify({ routes: { "six.local": echo.port } }) });
  gotunnel = await scope.up(dir, scope.dir("home"));
});

afterAll(() => scope.dispose());

/** curl to `url` with its name resolved to ::1 only (`--resolve name:port:[::1]`), never through /etc/hosts. */
function curlV6(url: string, args: string[] = []) {
  const { hostname, port } = new URL(url);
  return run([
    "curl",
    "-sS",
    "--max-time",
    "20",
    "--resolve",
    `${hostname}:${port}:[::1]`,
    "-o",
    "-",
    "-w",
    "\n%{http_code} %{remote_ip}",
    ...args,
    url,
  ]);
}

describe("a name resolved to ::1", () => {
  test("is served over HTTPS from the ::1 listener", async () => {
    const result = await curlV6(`https://six.local:${gotunnel.httpsPort}/over-v6`, ["--cacert", gotunnel.caPath]);
    expect(result.stderr).toBe("");
    expect(result.stdout.split("\n").pop()).toBe("200 ::1");
    const seen = echo.seen.find((request) => request.path === "/over-v6");
    expect(seen?.headers.find(([name]) => name === "x-forwarded-for")?.[1]).toBe("::1");
  });

  test("gets the HTTPS redirect from the plain-HTTP ::1 listener", async () => {
    const result = await curlV6(`http://six.local:${gotunnel.httpPort}/plain`);
    expect(result.stdout.split("\n").pop()).toBe("308 ::1");
  });
});

/** Why the namespace test cannot run here, or undefined when it can. */
function unshareSkipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root to create a network namespace (unshare --net)";
  const missing = ["unshare", "ip", "curl"].filter((tool) => !Bun.which(tool));
  if (missing.length > 0) return `missing ${missing.join(", ")}: apt-get install -y util-linux iproute2 curl`;
  return undefined;
}

describe("a machine without IPv6 loopback", () => {
  const skip = unshareSkipReason();
  test.skipIf(skip !== undefined)(
    `starts and serves 127.0.0.1 without a warning${skip ? ` (skipped: ${skip})` : ""}`,
    async () => {
      const home = scope.dir("no-v6");
      // Inside a fresh network namespace: loopback up, IPv6 off on it, so ::1 cannot be bound (EADDRNOTAVAIL).
      const script = [
        "ip link set lo up",
        // /proc/sys/net belongs to the namespace of the process that reads it: this turns IPv6 off inside only.
        "echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6",
        `"$GOTUNNEL" start -d nosix -p 9 --json > "$GOTUNNEL_HOME/start.json"`,
        `port=$(sed -n 's/.*"https":\\([0-9]*\\).*/\\1/p' "$GOTUNNEL_HOME/start.json")`,
        `curl -sS -o /dev/null -w '%{http_code}' --cacert "$GOTUNNEL_HOME/ca/rootCA.pem" --resolve "nosix.local:$port:127.0.0.1" "https://nosix.local:$port/"`,
        `"$GOTUNNEL" daemon stop > /dev/null`,
      ].join(" && ");
      const env = {
        ...binaryEnv(home, { GOTUNNEL_PROXY_HTTPS_PORT: "0", GOTUNNEL_PROXY_HTTP_PORT: "0" }),
        GOTUNNEL: BINARY,
      };
      const result = await run(["unshare", "--net", "sh", "-c", script], { env, cwd: home, timeoutMs: 60_000 });
      // Nothing listens on port 9 in the namespace: the proxy answering 502 is what proves it serves on 127.0.0.1.
      expect({ exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({
        exitCode: 0,
        stdout: "502",
        stderr: "",
      });
      const log = readFileSync(join(home, "state", "daemon.log"), "utf8");
      expect(log).toContain("ready on 127.0.0.1:");
      expect(log).not.toContain("::1");
      expect(log).not.toMatch(/warn|could not/i);
    },
  );
});
