/**
 * `gotunnel ca`: print the CA certificate's path (like `mkcert -CAROOT`), creating the CA on first use.
 * `gotunnel ca rotate [--allow-suffix .dev]`: replace the CA and move trust over to the new one.
 */
import { resolvePaths } from "../platform/paths.ts";
import { withCommandTracing } from "../telemetry/command.ts";
import type { RotatedCA } from "../tls/lifecycle.ts";
import { retrust, trustStores } from "../tls/truststore/index.ts";
import { jsonArg } from "./args.ts";
import { command } from "./command.ts";
import { info, printJson, printLine, warn, withProgress } from "./output.ts";
import { printReports, throwIfFailed, trustHooks } from "./trust.ts";

const rotate = command({
  meta: {
    name: "rotate",
    description:
      "New CA (old one moved aside), trusted where the old one was; --allow-suffix .dev also lets it sign *.dev",
    examples: [
      ["gotunnel ca rotate", "a new CA, trusted wherever the old one was"],
      ["gotunnel ca rotate --allow-suffix .dev", "…that may also sign names under .dev"],
    ],
  },
  args: {
    ...jsonArg,
    "allow-suffix": {
      type: "string",
      valueHint: ".dev",
      description: "Also let the new CA sign names under this suffix (repeatable; kept from the old CA)",
    },
  },
  async run({ args, rawArgs }) {
    await withCommandTracing("ca rotate", warn, async () => {
      const json = args.json === true;
      await (await import("../tls/load.ts")).loadTls();
      const { normalizeSuffix } = await import("../tls/constraints.ts");
      const suffixes = repeated(rawArgs, "--allow-suffix").map(normalizeSuffix);
      const { rotateCA } = await import("../tls/lifecycle.ts");
      const rotated = await withProgress((progress) =>
        rotateCA(resolvePaths().caDir, { suffixes, onStep: progress.step }),
      );
      const { previous } = rotated;
      const result = previous
        ? await withProgress((progress) => retrust(previous, rotated.ca, trustStores(), trustHooks(json, progress)))
        : undefined;
      renderRotation(rotated, result, json);
    });
  },
});

function renderRotation(rotated: RotatedCA, result: Awaited<ReturnType<typeof retrust>> | undefined, json: boolean) {
  const { ca, previous, movedTo } = rotated;
  const permitted = ca.nameConstraints?.dnsSuffixes.map((suffix) => `.${suffix}`) ?? [];
  if (json) {
    const summary = { path: ca.certPath, previous: movedTo ?? null, permittedSuffixes: permitted };
    printJson({ action: "rotate", ca: summary, trusted: result?.trusted ?? [], untrusted: result?.untrusted ?? [] });
  } else {
    info(`new CA ${ca.certPath} for ${permitted.join(", ")} and private IPs`);
    if (movedTo) info(`the old CA is kept in ${movedTo}`);
    if (!result || result.trusted.length === 0) {
      warn("the old CA was not trusted anywhere: run `gotunnel trust` to trust the new one");
    } else {
      info(`the new CA (${ca.commonName}):`);
      printReports("trust", result.trusted);
      info(`the old CA (${previous?.commonName}):`);
      printReports("untrust", result.untrusted);
    }
  }
  throwIfFailed("trust", result?.trusted ?? []);
  throwIfFailed("untrust", result?.untrusted ?? []);
}

/** Every value of a repeatable string flag: citty 0.2 keeps only the last one in `args`. */
function repeated(rawArgs: string[], flag: string): string[] {
  const values: string[] = [];
  rawArgs.forEach((arg, index) => {
    if (arg === flag && rawArgs[index + 1] !== undefined) values.push(rawArgs[index + 1]!);
    else if (arg.startsWith(`${flag}=`)) values.push(arg.slice(flag.length + 1));
  });
  return values;
}

export default command({
  meta: {
    name: "ca",
    description: "Print the path of gotunnel's CA certificate (creates the CA if needed); `ca rotate` replaces it",
    examples: [
      ["gotunnel ca", "the CA certificate's path, like mkcert -CAROOT"],
      ["gotunnel ca --pem > gotunnel-ca.pem", "the certificate itself"],
      ["gotunnel ca rotate"],
    ],
  },
  args: {
    ...jsonArg,
    pem: { type: "boolean", description: "Print the certificate itself (PEM) instead of its path" },
  },
  subCommands: { rotate },
  async run({ args, rawArgs }) {
    // citty 0.2.2 runs a parent's run() after its sub-command's: `ca rotate` must not also print the path.
    if (rawArgs.find((arg) => !arg.startsWith("-")) === "rotate") return;
    const { loadOrCreateCA } = await (await import("../tls/load.ts")).loadTls();
    const caDir = resolvePaths().caDir;
    const { ca, created } = await withProgress((progress) => loadOrCreateCA(caDir, { onStep: progress.step }));
    if (args.json) {
      const { certPath, keyPath, subject, notBefore, notAfter, fingerprintSha256 } = ca;
      const { caHealth } = await import("../tls/lifecycle.ts");
      const nameConstraints = ca.nameConstraints ?? null;
      const { daysLeft } = caHealth(ca);
      printJson({
        certPath,
        keyPath,
        subject,
        notBefore,
        notAfter,
        fingerprintSha256,
        created,
        nameConstraints,
        daysLeft,
      });
    } else if (args.pem) {
      printLine(ca.certPem.trimEnd());
    } else {
      printLine(ca.certPath);
    }
  },
});
