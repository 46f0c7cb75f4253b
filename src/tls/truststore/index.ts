/**
 * The one place that chooses trust stores for this machine (and the only reader of process.platform in the trust
 * code), and the check → act → verify → report loop every command runs over them. Stores never print: the
 * caller gets an elevation notice before any store that needs one, and one report per store.
 */
import { homedir } from "node:os";
import { SpanStatusCode } from "@opentelemetry/api";
import { isGotunnelError } from "../../core/errors.ts";
import { detectOs, type OsInfo } from "../../platform/detect.ts";
import { invokingUserHome } from "../../platform/paths.ts";
import { type CommandRunner, systemRunner } from "../../platform/runner.ts";
import { traced } from "../../telemetry/tracing.ts";
import { keychainStore } from "./darwin.ts";
import { javaStore } from "./java.ts";
import { linuxSystemStore } from "./linux.ts";
import { findNssDatabases, nssStore } from "./nss.ts";
import type { StoreContext, TrustedCA, TrustStore } from "./types.ts";
import { windowsStore } from "./windows.ts";
import { wslWindowsStore } from "./wsl.ts";

export type { StoreContext, TrustedCA, TrustStore } from "./types.ts";

export interface StoreContextOptions {
  runner?: CommandRunner;
  os?: OsInfo;
  home?: string;
  env?: Record<string, string | undefined>;
  isRoot?: boolean;
}

export function storeContext(options: StoreContextOptions = {}): StoreContext {
  const env = options.env ?? process.env;
  return {
    runner: options.runner ?? systemRunner,
    os: options.os ?? detectOs({ platform: process.platform, env }),
    // Under sudo, the invoking user's browsers and keychain, not root's (paths.ts keeps their CA there too).
    home: options.home ?? invokingUserHome(env) ?? homedir(),
    env,
    isRoot: options.isRoot ?? process.getuid?.() === 0,
  };
}

/**
 * This machine's stores, in the order they are changed. The system store comes before Java: on Debian its update
 * hook copies anchors into cacerts, and the Java store then finds the CA already there (and gone again on untrust).
 */
export function trustStores(context: StoreContext = storeContext(), only?: readonly StoreKind[]): TrustStore[] {
  const all = platformStores(context);
  return only ? all.filter((store) => only.includes(storeKind(store))) : all;
}

/** The kinds `--store` accepts (like mkcert's TRUST_STORES): a store's id up to the first colon. */
export const STORE_KINDS = ["system", "nss", "keychain", "windows", "java"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export function storeKind(store: TrustStore): StoreKind {
  const prefix = store.id.split(":")[0];
  return prefix === "wsl-windows" ? "windows" : (prefix as StoreKind);
}

function platformStores(context: StoreContext): TrustStore[] {
  const nss = findNssDatabases(context).map((database) => nssStore(context, database));
  switch (context.os.platform) {
    case "darwin":
      return [keychainStore(context), ...nss, javaStore(context)];
    case "win32":
      return [windowsStore(context), javaStore(context)];
    case "linux":
      return [
        linuxSystemStore(context),
        ...(context.os.wsl ? [wslWindowsStore(context)] : []),
        ...nss,
        javaStore(context),
      ];
    default:
      return [];
  }
}

/** already: nothing to do; changed: done now; skipped: could not, with the reason; failed: a command failed. */
export type StoreStatus = "already" | "changed" | "skipped" | "failed";

export interface StoreReport {
  id: string;
  name: string;
  status: StoreStatus;
  reason?: string;
  /** The command that fixes a skip or failure, e.g. `sudo apt install libnss3-tools`. */
  fix?: string;
}

export interface TrustHooks {
  /** Called as each store is looked at (a keychain, certutil or keytool can take seconds), for progress. */
  onStore?(store: TrustStore, action: TrustAction): void;
  /** Called before a store that needs sudo or shows a dialog is changed, so the user hears it first. */
  onElevation?(store: TrustStore, message: string): void;
  onReport?(report: StoreReport): void;
}

export type TrustAction = "trust" | "untrust";

/** Trusts or untrusts the CA in each store, one at a time, in order. Idempotent: a second run reports "already". */
export async function applyTrust(
  action: TrustAction,
  ca: TrustedCA,
  stores: TrustStore[],
  hooks: TrustHooks = {},
): Promise<StoreReport[]> {
  const reports: StoreReport[] = [];
  for (const store of stores) {
    hooks.onStore?.(store, action);
    const report = await applyOne(action, ca, store, hooks);
    hooks.onReport?.(report);
    reports.push(report);
  }
  return reports;
}

/**
 * One store, inside a `ca trust` or `ca untrust` span (telemetry/tracing.ts; a no-op unless the command exports
 * traces) that names the store's kind and label, not its path (a home directory names the user), and ends with its
 * status: a failed store marks the span as an error.
 */
function applyOne(action: TrustAction, ca: TrustedCA, store: TrustStore, hooks: TrustHooks): Promise<StoreReport> {
  const attributes = { "gotunnel.trust.store": storeKind(store), "gotunnel.trust.store_name": store.name };
  return traced(`ca ${action}`, attributes, async (span) => {
    const report = await applyOneStore(action, ca, store, hooks);
    span.setAttribute("gotunnel.trust.status", report.status);
    if (report.status === "failed") span.setStatus({ code: SpanStatusCode.ERROR, message: report.reason });
    return report;
  });
}

async function applyOneStore(action: TrustAction, ca: TrustedCA, store: TrustStore, hooks: TrustHooks) {
  const report = (status: StoreStatus, extra: Omit<StoreReport, "id" | "name" | "status"> = {}): StoreReport => ({
    id: store.id,
    name: store.name,
    status,
    ...extra,
  });
  const available = await store.detect();
  if (!available.ok) return report("skipped", { reason: available.reason, fix: available.fix });
  const want = action === "trust";
  try {
    const trusted = await store.isTrusted(ca);
    const leftovers = !want && !trusted && (await store.hasLeftovers?.(ca)) === true;
    if (trusted === want && !leftovers) return report("already");
    const elevation = store.elevation();
    if (elevation) hooks.onElevation?.(store, elevation);
    const change = want ? await store.install(ca) : await store.uninstall(ca);
    if (!change.changed) return report("skipped", { reason: change.reason });
    // Verify: a tool that exits 0 without doing the job must not be reported as success.
    if ((await store.isTrusted(ca)) !== want) {
      return report("failed", {
        reason: `the commands succeeded but the CA is ${want ? "still not" : "still"} trusted`,
      });
    }
    return report("changed");
  } catch (error) {
    if (!isGotunnelError(error)) throw error;
    return report("failed", { reason: error.message, fix: error.hint });
  }
}

/**
 * After a CA rotation: trust the new CA in every store that trusted the old one, then untrust the old one there.
 * Where adding the new CA failed, the old one stays, so that store is never left with neither.
 */
export async function retrust(
  previous: TrustedCA,
  next: TrustedCA,
  stores: TrustStore[],
  hooks: TrustHooks = {},
): Promise<{ trusted: StoreReport[]; untrusted: StoreReport[] }> {
  const trustedBefore: TrustStore[] = [];
  for (const store of stores) {
    if ((await store.detect()).ok && (await store.isTrusted(previous))) trustedBefore.push(store);
  }
  const trusted = await applyTrust("trust", next, trustedBefore, hooks);
  const replaced = trustedBefore.filter((_, index) => trusted[index]?.status !== "failed");
  const untrusted = await applyTrust("untrust", previous, replaced, hooks);
  return { trusted, untrusted };
}
