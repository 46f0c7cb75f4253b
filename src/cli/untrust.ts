/** `gotunnel untrust`: remove gotunnel's CA from every store `trust` put it in, and nothing else. */
import { resolvePaths } from "../platform/paths.ts";
import { withCommandTracing } from "../telemetry/command.ts";
import { applyTrust, trustStores } from "../tls/truststore/index.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, warn, withProgress } from "./output.ts";
import { parseStoreKinds, renderReports, storeArg, trustHooks } from "./trust.ts";

export default command({
  meta: {
    name: "untrust",
    description: "Remove gotunnel's CA from every trust store (the CA files stay)",
    examples: [
      ["gotunnel untrust", "the exact inverse of `gotunnel trust`"],
      ["gotunnel untrust --ca-dir ~/.local/share/gotunnel/ca.old", "a CA that `ca rotate` moved aside"],
    ],
  },
  args: {
    ...jsonArg,
    ...storeArg,
    "ca-dir": {
      type: "string",
      valueHint: "dir",
      description: "Untrust the CA in this directory instead, e.g. one `ca rotate` moved aside",
    },
  },
  async run({ args }) {
    await withCommandTracing("untrust", warn, async () => {
      const json = args.json === true;
      const only = parseStoreKinds(args.store);
      const { loadCA } = await (await import("../tls/load.ts")).loadTls();
      const caDir = args["ca-dir"] ?? resolvePaths().caDir;
      // An expired CA is still in the stores until it is removed: untrusting it must work.
      const ca = await loadCA(caDir, { allowExpired: true });
      if (!ca) {
        if (json) printJson({ action: "untrust", ca: null, stores: [] });
        else info(`no CA in ${caDir}: nothing to untrust`);
        return;
      }
      const stores = trustStores(undefined, only);
      const reports = await withProgress((progress) => applyTrust("untrust", ca, stores, trustHooks(json, progress)));
      renderReports("untrust", reports, json, { ca: { path: ca.certPath } });
    });
  },
});
