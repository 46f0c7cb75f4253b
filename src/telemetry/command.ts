/**
 * Spans for what a CLI command changes on the machine outside the daemon: `gotunnel trust`, `untrust` and
 * `ca rotate` edit trust stores in the command's own process. With an OTLP endpoint configured (the settings the
 * daemon reads: OTEL_* variables, or `observability` in the config), the command runs inside a root span of its
 * own, registers the same tracer as the daemon (otlp.ts, loaded only then), and sends its spans before it exits.
 */
import { loadConfig } from "../config/load.ts";
import { telemetrySettings } from "./settings.ts";
import { startTracing, traced } from "./tracing.ts";

/** How long a command may wait on its way out for the collector to take its spans. */
const COMMAND_FLUSH_MS = 3_000;

/**
 * Runs `work` inside a `gotunnel <command>` span, exported when an endpoint is configured. Tracing never changes
 * the command's outcome: a config that cannot be read leaves it untraced (the command reports config problems itself
 * where it uses the config), and a collector that does not answer delays the exit by at most COMMAND_FLUSH_MS.
 */
export async function withCommandTracing<T>(
  command: string,
  warn: (message: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  const settings = await loadConfig({ cwd: process.cwd() }).then(
    (loaded) => telemetrySettings(loaded.config.observability),
    () => undefined,
  );
  // Quiet on success: a command's output is its own (and may be --json); only problems reach stderr.
  const log = (level: "info" | "warn", message: string) => (level === "warn" ? warn(message) : undefined);
  const tracing = settings ? await startTracing(settings, log) : undefined;
  if (!tracing) return work();
  try {
    return await traced(`gotunnel ${command}`, { "gotunnel.command": command }, work);
  } finally {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, COMMAND_FLUSH_MS);
    });
    await Promise.race([tracing.shutdown(), late]);
    clearTimeout(timer);
  }
}
