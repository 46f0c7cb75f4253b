/** `gotunnel ca`: print the CA certificate's path (like `mkcert -CAROOT`), creating the CA on first use. */
import { defineCommand } from "citty";
import { resolvePaths } from "../platform/paths.ts";
import { jsonArg } from "./args.ts";
import { printJson, printLine } from "./output.ts";

export default defineCommand({
  meta: { name: "ca", description: "Print the path of gotunnel's CA certificate (creates the CA if needed)" },
  args: {
    ...jsonArg,
    pem: { type: "boolean", description: "Print the certificate itself (PEM) instead of its path" },
  },
  async run({ args }) {
    const { loadOrCreateCA } = await (await import("../tls/load.ts")).loadTls();
    const { ca, created } = await loadOrCreateCA(resolvePaths().caDir);
    if (args.json) {
      const { certPath, keyPath, subject, notBefore, notAfter, fingerprintSha256 } = ca;
      printJson({ certPath, keyPath, subject, notBefore, notAfter, fingerprintSha256, created });
    } else if (args.pem) {
      printLine(ca.certPem.trimEnd());
    } else {
      printLine(ca.certPath);
    }
  },
});
