/**
 * Re-runs the bench inside private network, mount and pid namespaces (root only):
 * - network: a fresh loopback, so nothing (e.g. gotunnel's mDNS responder) can reach the LAN and our ports
 *   cannot collide with other work on the machine;
 * - mount: /etc/hosts and the system trust-store directories are private copies (still readable, so TLS
 *   clients that load the system bundle keep working), whatever the proxy tries to write there;
 * - pid: the bench is PID 1, so when it exits for any reason the kernel kills every process it started.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "./proc.ts";
import { processTree } from "./rss.ts";

export const INNER_ENV = "GOTUNNEL_BENCH_NAMESPACED";

const TRUST_DIRS = ["/usr/local/share/ca-certificates", "/etc/ssl/certs", "/etc/pki/ca-trust"];

const SETUP_SCRIPT = `set -e
ip link set lo up
mount --bind "$BENCH_PRIVATE_HOSTS" /etc/hosts
for dir in ${TRUST_DIRS.join(" ")}; do
  if [ -d "$dir" ]; then
    copy="$BENCH_PRIVATE_DIR$dir"
    mkdir -p "$copy" && cp -a "$dir/." "$copy/" && mount --bind "$copy" "$dir"
  fi
done
exec "$@"`;

export function isInside(): boolean {
  return process.env[INNER_ENV] === "1";
}

export function canIsolate(): boolean {
  const tools = ["unshare", "ip", "mount"].every((tool) => Bun.which(tool) !== null);
  return tools && process.getuid?.() === 0;
}

/** Runs `bun <script> <argv>` inside the namespaces and returns its exit code. */
export async function runIsolated(script: string, argv: string[]): Promise<number> {
  const scratch = mkdtempSync(join(tmpdir(), "gotunnel-bench-ns-"));
  const hosts = join(scratch, "hosts");
  writeFileSync(hosts, "127.0.0.1 localhost\n::1 localhost\n");
  const cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child"];
  cmd.push("sh", "-c", SETUP_SCRIPT, "bench-namespace", process.execPath, script, ...argv);
  const child = Bun.spawn(cmd, {
    env: { ...process.env, [INNER_ENV]: "1", BENCH_PRIVATE_HOSTS: hosts, BENCH_PRIVATE_DIR: scratch },
    stdio: ["inherit", "inherit", "inherit"],
  });
  const forward = () => void stopInner(child.pid, child.exited);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  try {
    return await child.exited;
  } finally {
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * unshare does not pass signals on to its child, so signal the bench inside directly (it cleans up), and
 * if that takes too long kill unshare: --kill-child then takes the whole namespace down.
 */
async function stopInner(unsharePid: number, exited: Promise<number>): Promise<void> {
  const inner = processTree(unsharePid).filter((pid) => pid !== unsharePid);
  for (const pid of inner.slice(0, 1)) process.kill(pid, "SIGTERM");
  const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!done) process.kill(unsharePid, "SIGKILL");
}
