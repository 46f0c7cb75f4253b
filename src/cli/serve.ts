/** Shared by `up` and `start`: run the gateway in the foreground and render its lifecycle. */
import type { ResolvedConfig } from "../config/load.ts";
import { runForeground } from "../daemon/foreground.ts";
import type { Gateway } from "../daemon/gateway.ts";
import { resolvePaths } from "../platform/paths.ts";
import { createRequestLog, dim, info, printLine, printPairs } from "./output.ts";

function renderReady(gateway: Gateway, json: boolean): void {
  if (json) {
    const ready = {
      event: "ready",
      routes: gateway.routes,
      ports: gateway.ports,
      ca: { path: gateway.ca.certPath, created: gateway.caCreated },
    };
    printLine(JSON.stringify(ready));
    return;
  }
  if (gateway.caCreated) info(`created a local CA: ${gateway.ca.certPath}`);
  printPairs(gateway.routes.map((route) => [route.url, route.target]));
  printLine(
    dim(
      `  ${gateway.certificates.issued} certificate(s) in ${Math.round(gateway.certificates.elapsedMs)} ms · CA ${gateway.ca.certPath} · Ctrl-C stops`,
    ),
  );
}

export async function serve(config: ResolvedConfig, options: { json: boolean }): Promise<void> {
  const format = options.json ? "json" : config.log.format;
  await runForeground({
    config,
    paths: resolvePaths(),
    onRequest: createRequestLog(format),
    onReady: (gateway) => renderReady(gateway, options.json || format === "json"),
    onShutdown: (signal) => {
      if (format === "text") info(`${signal}: stopping, letting in-flight requests finish`);
    },
  });
}
