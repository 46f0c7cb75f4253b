/**
 * The certificate issuer: `gotunnel __issue-certificates`, a short-lived child of the daemon that owns every use of
 * @peculiar/x509 (with reflect-metadata, tsyringe and the @peculiar/asn1-* schemas) the daemon would otherwise make.
 * Those modules cost the long-running daemon about 11 MiB of RSS for work it does for a few milliseconds per route
 * (issue 18); here they live only while certificates are being made, and the daemon never loads them.
 *
 * It reads requests (protocol.ts) from stdin until end of file and answers each on stdout. End of file is how it
 * learns that it is no longer needed: the daemon closes the pipe after an idle period, and the kernel closes it for
 * the daemon at any kind of exit (SIGKILL included), so the issuer never outlives its daemon. It reads the CA's files
 * itself from the directory a request names; the CA key never travels in argv, the environment or the pipe.
 */

import { GotunnelError, isGotunnelError } from "../../core/errors.ts";
import { textLines } from "../../core/lines.ts";
import type { LocalCA } from "../ca.ts";
import { loadTls } from "../load.ts";
import { caToWire, encodeLine, type IssuerAnswer, type IssuerRequest, leafToWire, parseRequest } from "./protocol.ts";

type Tls = Awaited<ReturnType<typeof loadTls>>;

/**
 * The issuer's main. `caDir` (argv: a path, no secret) is the CA it will most likely be asked for: it is loaded at
 * once, before any request, so that work (~30 ms the first time in a fresh process: parsing with a cold JIT, the key
 * import) overlaps what the daemon and the command that woke it are doing. `stdin` and `write` are seams for tests;
 * the real ones are the pipes the daemon holds.
 */
export async function runIssuer(
  caDir: string | undefined,
  stdin: ReadableStream<Uint8Array> = Bun.stdin.stream(),
  write: (line: string) => void = (line) => void process.stdout.write(line),
): Promise<number> {
  // Ctrl-C at a foreground daemon's terminal reaches its whole process group: the daemon decides when the issuer
  // stops (by closing stdin), so a request in flight during its shutdown still gets its answer.
  for (const signal of ["SIGINT", "SIGHUP"] as const) process.on(signal, () => undefined);
  // Loaded before the first request arrives: the daemon starts the issuer early so this overlaps its own start.
  const tls = await loadTls();
  const cas = new Map<string, Promise<LocalCA>>();
  // Never creates: if there is no CA yet (the daemon's first start), the daemon's own request creates it.
  if (caDir !== undefined)
    void caFor(cas, caDir, async () => ({ ca: await tls.loadCA(caDir), created: false })).catch(
      () => undefined, // Reported to the request that needs this CA: caFor loads it again for that request.
    );
  const inFlight = new Set<Promise<void>>();
  for await (const line of textLines(stdin)) {
    const work = answer(tls, cas, line).then((reply) => write(encodeLine(reply)));
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }
  await Promise.allSettled(inFlight);
  return 0;
}

async function answer(tls: Tls, cas: Map<string, Promise<LocalCA>>, line: string): Promise<IssuerAnswer> {
  let request: IssuerRequest;
  try {
    request = parseRequest(line);
  } catch (error) {
    // No id to answer to: the daemon times the request out and says so. A newer daemon never pairs with an older
    // issuer (both are this same binary), so this is a bug worth a line in the daemon's log (our stderr).
    console.error(`gotunnel issuer: ignored a request it cannot read: ${String(error)}`);
    return { id: -1, ok: false, error: wireError(error) };
  }
  try {
    if (request.op === "ca") {
      const { create, caDir } = request;
      const { ca, created } = await caFor(cas, caDir, async () =>
        create ? tls.loadOrCreateCA(caDir) : { ca: await tls.loadCA(caDir), created: false },
      );
      return { id: request.id, ok: true, ca: caToWire(ca), created };
    }
    const { caDir } = request;
    const { ca } = await caFor(cas, caDir, async () => ({ ca: await tls.loadCA(caDir), created: false }));
    if (ca.fingerprintSha256 !== request.ca) throw replacedCaError(caDir, request.ca, ca.fingerprintSha256);
    const leaf = await tls.issueLeaf(ca, request.names, { now: new Date(request.now) });
    return { id: request.id, ok: true, leaf: leafToWire(leaf) };
  } catch (error) {
    if (!isGotunnelError(error)) console.error("gotunnel issuer: unexpected failure:", error);
    return { id: request.id, ok: false, error: wireError(error) };
  }
}

/**
 * One CA load per directory per issuer lifetime (a few seconds): concurrent first requests share it, and a failed
 * load is not kept, so the next request reads the files again.
 */
async function caFor(
  cas: Map<string, Promise<LocalCA>>,
  caDir: string,
  load: () => Promise<{ ca: LocalCA | undefined; created: boolean }>,
): Promise<{ ca: LocalCA; created: boolean }> {
  const known = cas.get(caDir);
  // A load that failed (the preload found no CA yet, or a broken one) is tried again, this request's way: a `ca`
  // request may create the CA, and reports a broken one with its own error.
  const ca = await known?.catch(() => undefined);
  if (ca) return { ca, created: false };
  const loading = load().then(({ ca, created }) => {
    if (!ca) throw noCaError(caDir);
    return { ca, created };
  });
  const loaded = loading.then((result) => result.ca);
  cas.set(caDir, loaded);
  loaded.catch(() => {
    if (cas.get(caDir) === loaded) cas.delete(caDir);
  });
  return loading;
}

function wireError(error: unknown) {
  if (isGotunnelError(error)) {
    return { code: error.code, message: error.message, hint: error.hint, details: error.details };
  }
  return {
    code: "E_TLS",
    message: `gotunnel's certificate issuer failed: ${error instanceof Error ? error.message : String(error)}`,
    hint: "This is a bug in gotunnel: the daemon's log has the details. Please report it.",
  };
}

function noCaError(caDir: string): GotunnelError {
  return new GotunnelError("E_TLS", `There is no gotunnel CA in ${caDir} any more.`, {
    hint: "It was moved or removed while the daemon ran. Restart the daemon (`gotunnel daemon stop`, then your command again): it creates a new CA, which you then trust with `gotunnel trust`.",
    details: { path: caDir },
  });
}

function replacedCaError(caDir: string, served: string, onDisk: string): GotunnelError {
  return new GotunnelError("E_TLS", `The gotunnel CA in ${caDir} is not the one the running daemon serves.`, {
    hint: "It was replaced while the daemon ran (e.g. by `gotunnel ca rotate`). Restart the daemon (`gotunnel daemon stop`, then your command again) to serve with the CA now on disk.",
    details: { path: caDir, served, onDisk },
  });
}
