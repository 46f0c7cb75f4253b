/**
 * Config versions: the Go gotunnel's config.yaml (version 1) is read with a warning that lists every change, a file
 * in the current shape is read as it is, and a version from the future is refused.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configVersion, describeChange, migrateLegacy } from "../../src/config/legacy.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { GotunnelError } from "../../src/core/errors.ts";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gotunnel-legacy-"));
  made.push(dir);
  return dir;
}

/** The Go tool's example config.yaml, as its users have it in ~/.config/gotunnel/config.yaml. */
const GO_CONFIG_YAML = readFileSync(
  join(import.meta.dir, "..", "fixtures", "config", "legacy", "go-config.yaml"),
  "utf8",
);

describe("configVersion", () => {
  test("an explicit version wins; without one, a Go-only field means version 1", () => {
    expect(configVersion({ routes: {} }, "f")).toBe(2);
    expect(configVersion({ version: 2, service: {} }, "f")).toBe(2);
    expect(configVersion({ version: 1 }, "f")).toBe(1);
    expect(configVersion({ service: { name: "x" } }, "f")).toBe(1);
    expect(configVersion({ proxy: { http_port: 80 } }, "f")).toBe(1);
    expect(configVersion({ observability: { logging: {} } }, "f")).toBe(1);
    expect(configVersion({ observability: { environment: "staging" } }, "f")).toBe(2);
  });

  test("a version from a newer gotunnel is refused with what to do", () => {
    const error = (() => {
      try {
        configVersion({ version: 3 }, "/p/gotunnel.config.json");
      } catch (caught) {
        return caught as GotunnelError;
      }
    })();
    expect(error?.code).toBe("E_CONFIG_INVALID");
    expect(error?.message).toBe(
      "/p/gotunnel.config.json: version: this gotunnel reads config versions 1 and 2 (found 3)",
    );
    expect(error?.hint).toContain("upgrade gotunnel");
  });
});

describe("migrateLegacy", () => {
  test("moves what has a place, drops the rest with a reason, and keeps current-shape fields", () => {
    const { value, changes } = migrateLegacy({
      routes: { "a.local": 3000 },
      proxy: { http_port: 8080, host: "0.0.0.0" },
      service: { environment: "production", name: "x" },
      network: { idle_timeout: "2m" },
    });
    expect(value).toEqual({
      version: 2,
      routes: { "a.local": 3000 },
      proxy: { host: "0.0.0.0", httpPort: 8080, keepAliveTimeout: 120 },
      observability: { environment: "production" },
    });
    expect(changes.map(describeChange)).toEqual([
      "proxy.http_port is now proxy.httpPort",
      "service.environment is now observability.environment",
      'service.name ("x") is dropped: traces are named by OTEL_SERVICE_NAME (default gotunnel)',
      "network.idle_timeout is now proxy.keepAliveTimeout = 120",
    ]);
  });

  test("a current-shape field that is also set wins over the Go field, and the change says so", () => {
    const { value, changes } = migrateLegacy({ proxy: { http_port: 8080, httpPort: 9090 } });
    expect(value).toEqual({ version: 2, proxy: { httpPort: 9090 } });
    expect(changes.map(describeChange)).toEqual([
      "proxy.http_port (8080) is dropped: proxy.httpPort is already set in this file, which wins",
    ]);
  });
});

describe("loading the Go tool's config.yaml as the user file", () => {
  test("it is read as the current shape, with one warning that lists every change and the migrate command", async () => {
    const userDir = tempDir();
    const file = join(userDir, "config.yaml");
    writeFileSync(file, GO_CONFIG_YAML);
    const cwd = tempDir();
    mkdirSync(join(cwd, ".git"));
    const loaded = await loadConfig({ cwd, env: {}, userConfigDir: userDir });
    expect(loaded.config.proxy).toMatchObject({ httpPort: 8080, httpsPort: 8443, keepAliveTimeout: 60 });
    expect(loaded.config.log).toEqual({ format: "json", level: "info" });
    expect(loaded.config.observability).toEqual({
      environment: "staging",
      tracesSampleRate: 0.5,
      otlpEndpoint: "http://localhost:4318",
      sentryTracesSampleRate: 0.1,
    });
    expect(loaded.config.lan).toBe(false);
    expect(loaded.warnings).toHaveLength(1);
    const warning = loaded.warnings[0] ?? "";
    expect(warning.split("\n")).toEqual([
      `${file} is in the Go gotunnel's config shape (version 1); it is read as version 2:`,
      '  service.name ("gotunnel") is dropped: traces are named by OTEL_SERVICE_NAME (default gotunnel)',
      '  service.version ("1.0.0") is dropped: gotunnel reports its own version',
      "  service.environment is now observability.environment",
      '  proxy.mode ("builtin") is dropped: gotunnel has one built-in proxy',
      "  proxy.http_port is now proxy.httpPort",
      "  proxy.https_port is now proxy.httpsPort",
      "  proxy.auto_install (false) is dropped: gotunnel has one built-in proxy",
      "  tunnels.default_https (true) is dropped: routes are HTTPS by default",
      '  tunnels.cert_dir ("./certs") is dropped: the CA lives in gotunnel\'s data directory (`gotunnel ca` prints it; GOTUNNEL_HOME moves it)',
      '  observability.logging.level is now log.level = "info" (gotunnel logs "info" or "debug")',
      "  observability.logging.format is now log.format",
      '  observability.logging.output ("stdout") is dropped: the daemon always logs to daemon.log in its state directory (`gotunnel status` names it)',
      "  observability.tracing.enabled (true) is dropped: traces are sent when an OTLP endpoint is set, and only then",
      "  observability.tracing.sample_rate is now observability.tracesSampleRate",
      '  observability.tracing.exporters is now observability.otlpEndpoint = "http://localhost:4318" (the first OTLP exporter; others are dropped)',
      `  observability.sentry.dsn ("\${SENTRY_DSN}") is dropped: gotunnel reads SENTRY_DSN from the environment itself`,
      "  observability.sentry.traces_sample_rate is now observability.sentryTracesSampleRate",
      "  network.mdns_enabled is now lan",
      "  network.idle_timeout is now proxy.keepAliveTimeout = 60",
      '  network.read_timeout ("30s") is dropped: proxy.clientBodyTimeout bounds a stalled request body',
      "  security.hosts_backup (true) is dropped: gotunnel checks privileges, validates certificates and keeps its hosts block itself",
      `  Run \`gotunnel config migrate ${file}\` to rewrite it (the original is kept as a backup).`,
    ]);
  });

  test("a current-shape file gives no warning", async () => {
    const userDir = tempDir();
    writeFileSync(join(userDir, "config.yaml"), "version: 2\nproxy:\n  httpPort: 8080\n");
    const cwd = tempDir();
    mkdirSync(join(cwd, ".git"));
    const loaded = await loadConfig({ cwd, env: {}, userConfigDir: userDir });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.config.proxy.httpPort).toBe(8080);
  });
});

describe("migrateFile: package.json and .gotunnelrc", () => {
  test("package.json: only the gotunnel key changes, indentation and other keys kept, the original backed up", async () => {
    const { migrateFile } = await import("../../src/project/migrate.ts");
    const dir = tempDir();
    const file = join(dir, "package.json");
    const original = '{\n    "name": "x",\n    "gotunnel": { "proxy": { "http_port": 8080 } },\n    "scripts": {}\n}\n';
    writeFileSync(file, original);
    const outcome = await migrateFile(file, {});
    expect(outcome).toMatchObject({ status: "rewritten", from: 1, backup: `${file}.v1.bak` });
    expect(readFileSync(`${file}.v1.bak`, "utf8")).toBe(original);
    expect(readFileSync(file, "utf8")).toBe(
      '{\n    "name": "x",\n    "gotunnel": {\n        "version": 2,\n        "proxy": {\n            "httpPort": 8080\n        }\n    },\n    "scripts": {}\n}\n',
    );
  });

  test(".gotunnelrc: edits and the replacement in its own key=value syntax, the file untouched", async () => {
    const { migrateFile } = await import("../../src/project/migrate.ts");
    const dir = tempDir();
    const file = join(dir, ".gotunnelrc");
    writeFileSync(file, "proxy.https_port=8443\nservice.name=gotunnel\n");
    const outcome = await migrateFile(file, {});
    expect(outcome).toMatchObject({
      status: "edits",
      kind: "rc",
      edits: [
        "replace `proxy.https_port=8443` with `proxy.httpsPort=8443`",
        'remove `service.name="gotunnel"`: traces are named by OTEL_SERVICE_NAME (default gotunnel)',
        "add `version=2`",
      ],
      replacement: "version=2\nproxy.httpsPort=8443",
    });
    expect(readFileSync(file, "utf8")).toBe("proxy.https_port=8443\nservice.name=gotunnel\n");
  });
});
