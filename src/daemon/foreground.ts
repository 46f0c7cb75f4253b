/**
 * Runs a gateway in the foreground until SIGINT, SIGTERM or SIGHUP (the terminal closing), then shuts down in order:
 * stop accepting, let in-flight requests finish (bounded), release the listeners. A second signal forces the exit.
 */
import { type Gateway, type GatewayOptions, startGateway } from "./gateway.ts";

/** How long in-flight requests get to finish after Ctrl-C before connections are cut. */
const SHUTDOWN_GRACE_MS = 5_000;
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export interface ForegroundOptions extends GatewayOptions {
  onReady(gateway: Gateway): void;
  onShutdown?(signal: string): void;
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      for (const name of SIGNALS) process.off(name, handler);
      resolve(signal);
    };
    for (const name of SIGNALS) process.on(name, handler);
  });
}

/** Resolves with the signal that stopped it. */
export async function runForeground(options: ForegroundOptions): Promise<NodeJS.Signals> {
  const gateway = await startGateway(options);
  options.onReady(gateway);
  const signal = await nextSignal();
  options.onShutdown?.(signal);
  // A second Ctrl-C means "now": exit with the conventional 128 + signal number.
  void nextSignal().then((second) => process.exit(second === "SIGINT" ? 130 : 143));
  const grace = setTimeout(() => void gateway.stop(true), SHUTDOWN_GRACE_MS);
  await gateway.stop(false);
  clearTimeout(grace);
  return signal;
}
