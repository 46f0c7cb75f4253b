/** The signals that stop a gotunnel process: Ctrl-C, a service manager's SIGTERM, and the terminal closing (SIGHUP). */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Resolves with the next stop signal (or `trigger`'s value, e.g. a shutdown request over the control API). */
export function nextSignal(trigger?: Promise<NodeJS.Signals>): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      for (const name of STOP_SIGNALS) process.off(name, handler);
      resolve(signal);
    };
    for (const name of STOP_SIGNALS) process.on(name, handler);
    void trigger?.then(handler);
  });
}

/** A second signal during shutdown means "now": exit with the conventional 128 + signal number. */
export function forceExitOnSecondSignal(): void {
  void nextSignal().then((second) => process.exit(second === "SIGINT" ? 130 : 143));
}
