/**
 * Who is listening on a TCP port, so that "port in use" errors can name the holder. Linux reads /proc (no tools
 * needed); elsewhere we ask `lsof` when it exists. Best effort: undefined when it cannot be found out.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface PortHolder {
  pid: number;
  command: string;
}

const TCP_LISTEN_STATE = "0A";

/** Socket inodes listening on `port` from /proc/net/tcp and tcp6. */
function listeningInodes(port: number, procRoot: string): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/net/${table}`, "utf8");
    } catch {
      continue; // No IPv6 table on this kernel, or no /proc: nothing to add from it.
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === TCP_LISTEN_STATE && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

function holderFromProc(port: number, procRoot: string): PortHolder | undefined {
  const inodes = listeningInodes(port, procRoot);
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync(procRoot)) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // Another user's process: we may not look, which is fine; we just cannot name it.
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue; // The fd closed while we were reading.
      }
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match && inodes.has(match[1]!)) {
        const command = readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim();
        return { pid: Number(pid), command };
      }
    }
  }
  return undefined;
}

function holderFromLsof(port: number): PortHolder | undefined {
  const result = Bun.spawnSync(["lsof", "-nP", `-iTCP:${port}`, "-sTCP:LISTEN", "-Fpc"], { stderr: "ignore" });
  if (result.exitCode !== 0) return undefined;
  const text = result.stdout.toString();
  const pid = /^p(\d+)$/m.exec(text)?.[1];
  const command = /^c(.+)$/m.exec(text)?.[1];
  return pid ? { pid: Number(pid), command: command ?? "unknown" } : undefined;
}

export function findPortHolder(port: number, procRoot = "/proc"): PortHolder | undefined {
  try {
    if (process.platform === "linux") return holderFromProc(port, procRoot);
    if (Bun.which("lsof")) return holderFromLsof(port);
  } catch (error) {
    // Naming the holder is a courtesy in an error message; failing to do so must not hide the real error.
    if (process.env.DEBUG) console.error("gotunnel: could not look up the port holder:", error);
  }
  return undefined;
}
