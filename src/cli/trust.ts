/** `gotunnel trust`: put gotunnel's CA into every trust store on this machine (idempotent; `untrust` reverses it). */
import { GotunnelError } from "../core/errors.ts";
import { resolvePaths } from "../platform/paths.ts";
import { withCommandTracing } from "../telemetry/command.ts";
import {
  applyTrust,
  STORE_KINDS,
  type StoreKind,
  type StoreReport,
  type TrustAction,
  type TrustHooks,
  trustStores,
} from "../tls/truststore/index.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, type Progress, printJson, printPairs, success, warn, withProgress } from "./output.ts";

const STATUS_TEXT: Record<TrustAction, Record<StoreReport["status"], string>> = {
  trust: { already: "already trusted", changed: "now trusted", skipped: "skipped", failed: "FAILED" },
  untrust: { already: "was not trusted", changed: "no longer trusted", skipped: "skipped", failed: "FAILED" },
};

export const storeArg = {
  store: {
    type: "string",
    valueHint: STORE_KINDS.join(","),
    description: "Only these kinds of store, comma-separated (default: every store found)",
  },
} as const;

export function parseStoreKinds(value: string | undefined): StoreKind[] | undefined {
  if (value === undefined) return undefined;
  const kinds = value
    .split(",")
    .map((kind) => kind.trim())
    .filter(Boolean);
  const unknown = kinds.filter((kind) => !(STORE_KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0 || kinds.length === 0) {
    throw new GotunnelError(
      "E_USAGE",
      `--store expects kinds from ${STORE_KINDS.join(", ")}; got ${JSON.stringify(value)}`,
      {
        hint: "e.g. `--store system,nss`",
      },
    );
  }
  return kinds as StoreKind[];
}

/**
 * Progress names the store being changed. Elevation notices go to stderr before the store changes, so a sudo prompt
 * never comes out of nowhere; the progress line stops first, so it cannot draw over the prompt.
 */
export function trustHooks(json: boolean, progress: Progress): TrustHooks {
  return {
    onStore: (store, action) =>
      progress.step(`${action === "trust" ? "trusting" : "untrusting"} the CA: ${store.name}`),
    onElevation: (store, message) => {
      progress.done();
      if (!json) info(`${store.name}: ${message}`);
    },
  };
}

/** One line per store: name → what happened, with the reason and the fixing command when there is one. */
export function printReports(action: TrustAction, reports: StoreReport[]): void {
  printPairs(
    reports.map((report) => {
      const why = report.reason ? `: ${report.reason}` : "";
      const fix = report.fix ? ` — fix: ${report.fix}` : "";
      return [report.name, `${STATUS_TEXT[action][report.status]}${why}${fix}`];
    }),
  );
}

/** E_TLS (exit 5) when any store failed, so scripts notice; the table above already says which and why. */
export function throwIfFailed(action: TrustAction, reports: StoreReport[]): void {
  const failed = reports.filter((report) => report.status === "failed");
  if (failed.length === 0) return;
  throw new GotunnelError("E_TLS", `Could not ${action} gotunnel's CA in: ${failed.map((r) => r.name).join(", ")}.`, {
    hint:
      failed[0]?.fix ??
      `Fix the problem shown above, then run \`gotunnel ${action}\` again (it redoes only what is missing).`,
    details: { stores: failed },
  });
}

export function renderReports(action: TrustAction, reports: StoreReport[], json: boolean, extra: object = {}): void {
  if (json) printJson({ action, ...extra, stores: reports });
  else if (reports.length === 0) warn("no trust store found on this machine");
  else printReports(action, reports);
  throwIfFailed(action, reports);
  if (!json && reports.some((report) => report.status === "changed")) {
    success(action === "trust" ? "Restart open browsers so they pick up the CA." : "Done. Restart open browsers.");
  }
}

export default command({
  meta: {
    name: "trust",
    description: "Trust gotunnel's CA in the system, browser (NSS), keychain and Java stores",
    examples: [
      ["gotunnel trust", "every store found; says first when it needs sudo"],
      ["gotunnel trust --store nss", "only the browsers' NSS databases"],
    ],
  },
  args: { ...jsonArg, ...storeArg },
  async run({ args }) {
    await withCommandTracing("trust", warn, async () => {
      const json = args.json === true;
      const only = parseStoreKinds(args.store);
      const { loadOrCreateCA } = await (await import("../tls/load.ts")).loadTls();
      const caDir = resolvePaths().caDir;
      const { ca, created } = await withProgress((progress) => loadOrCreateCA(caDir, { onStep: progress.step }));
      const { caHealth } = await import("../tls/lifecycle.ts");
      const health = caHealth(ca);
      if (health.warning && !json) warn(health.warning);
      if (created && !json) info(`created a local CA: ${ca.certPath}`);
      const stores = trustStores(undefined, only);
      const reports = await withProgress((progress) => applyTrust("trust", ca, stores, trustHooks(json, progress)));
      renderReports("trust", reports, json, { ca: { path: ca.certPath, created, daysLeft: health.daysLeft } });
    });
  },
});
