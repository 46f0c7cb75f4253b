/**
 * The daemon process never loads @peculiar/x509 (issue 18: it costs a long-running daemon about 11 MiB for work of a
 * few milliseconds per route). Certificates are made by the issuer child (src/tls/issuer/), which is this same binary
 * run as `gotunnel __issue-certificates`. This test walks the import graph the daemon process can execute, static
 * and dynamic imports both (Bun.Transpiler's scanImports; `import type` is erased and not followed), and fails with
 * the chain of imports that reaches a certificate module.
 *
 * What the daemon process runs: src/main.ts (its static imports: every process loads them) and the `daemon`
 * command, src/cli/daemon.ts, with everything that reaches. main.ts's other dynamic imports (the other commands, the
 * issuer, shell completion) are other processes.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "..", "..", "src");
const transpiler = new Bun.Transpiler({ loader: "ts" });

/** Modules and packages the daemon must not load: the certificate library and what it needs. */
const FORBIDDEN_FILES = ["tls/x509.ts", "tls/ca.ts", "tls/leaf.ts", "tls/load.ts", "tls/issuer/child.ts"];
const FORBIDDEN_PACKAGE = /^(@peculiar\/|reflect-metadata$|tsyringe$|asn1js$|pvtsutils$)/;

interface Graph {
  /** Each reached src file (relative to src/) or package name → the file that first imported it. */
  parent: Map<string, string | undefined>;
}

/**
 * Follows every import from `roots`, except the dynamic imports of `dispatchers`: main.ts and cli/commands.ts choose
 * the command (or the child) a process runs by a dynamic import each, and only one of them runs in a process.
 */
function walk(roots: string[], dispatchers: string[] = []): Graph {
  const parent = new Map<string, string | undefined>();
  const queue = [...roots];
  for (const root of roots) parent.set(root, undefined);
  while (queue.length > 0) {
    const file = queue.shift() as string;
    const dynamic = !dispatchers.includes(file);
    // The transpiler refuses a hashbang line (main.ts has one): blank it.
    const imports = transpiler.scanImports(readFileSync(join(SRC, file), "utf8").replace(/^#!.*/, ""));
    for (const { kind, path } of imports) {
      if (kind === "dynamic-import" && !dynamic) continue;
      if (path.startsWith("node:") || path === "bun" || path.startsWith("bun:")) continue;
      const target = path.startsWith(".") ? relative(SRC, resolve(SRC, dirname(file), path)) : packageName(path);
      if (parent.has(target)) continue;
      parent.set(target, file);
      if (path.startsWith(".") && target.endsWith(".ts")) queue.push(target);
    }
  }
  return { parent };
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/** `a.ts → b.ts → @peculiar/x509`, for the failure message. */
function chain(graph: Graph, target: string): string {
  const steps = [target];
  for (let at = graph.parent.get(target); at !== undefined; at = graph.parent.get(at)) steps.unshift(at);
  return steps.join(" → ");
}

function forbidden(graph: Graph): string[] {
  return [...graph.parent.keys()]
    .filter((name) => FORBIDDEN_FILES.includes(name) || FORBIDDEN_PACKAGE.test(name))
    .map((name) => chain(graph, name));
}

describe("the daemon's import graph", () => {
  const daemon = walk(["main.ts", "cli/daemon.ts"], ["main.ts", "cli/commands.ts"]);

  test("reaches no certificate module: @peculiar/x509 loads only in the issuer child", () => {
    expect(forbidden(daemon)).toEqual([]);
  });

  test("does reach the gateway and the issuer's client side (the walk follows what the daemon runs)", () => {
    expect(daemon.parent.has("daemon/gateway.ts")).toBe(true);
    expect(daemon.parent.has("tls/issuer/client.ts")).toBe(true);
    expect(daemon.parent.has("tls/store.ts")).toBe(true);
  });

  test("the issuer child does reach @peculiar/x509, through a dynamic import (so the walk follows those)", () => {
    const issuer = walk(["tls/issuer/child.ts"]);
    expect(issuer.parent.has("@peculiar/x509")).toBe(true);
    expect(chain(issuer, "tls/x509.ts")).toContain("tls/load.ts");
  });

  test("calls no ICU-backed API: localeCompare or toLocaleString would keep ICU's data in the daemon for good", () => {
    // Measured: localeCompare in the route list cost the idle daemon 1.4 MiB (core/compare.ts says what to use).
    const icu = /\.localeCompare\(|\.toLocaleString\(|\.toLocale(?:Date|Time|Upper|Lower)String\(|\bIntl\./;
    const callers = [...daemon.parent.keys()]
      .filter((name) => name.endsWith(".ts") && icu.test(readFileSync(join(SRC, name), "utf8")))
      .map((name) => chain(daemon, name));
    expect(callers).toEqual([]);
  });

  test("main.ts starts the issuer child by its hidden command", () => {
    const main = walk(["main.ts"]);
    expect(main.parent.get("tls/issuer/child.ts")).toBe("main.ts");
  });
});
