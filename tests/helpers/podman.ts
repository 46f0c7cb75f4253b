/**
 * A real container engine for docker-discovery tests: Podman's API service (`podman system service`), which speaks the
 * Docker Engine API, with everything it writes kept private and removed afterwards. Never the machine's own
 * docker/podman state:
 *
 * - storage (`--root`, vfs driver), network config, containers.conf and storage.conf live in the test's temp dir,
 *   the API socket where the test says; `--runroot` and `--tmpdir` in a short-named dir of their own under /tmp
 *   (podman and slirp4netns limit those paths' lengths), removed by stop();
 * - the service runs in its own mount and pid namespaces (`unshare --mount --pid`) with a fresh tmpfs on /run
 *   (podman's netns files, crun's state), on /var/lib/containers (or /var/lib when it is missing: podman 4.3 writes
 *   its blob-info cache there whatever `--root` says) and on /etc/containers/networks where it exists; its exit
 *   ends every process it started;
 * - containers get `--cgroups=disabled` (no cgroup dirs on the host) and slirp4netns networking, whose published
 *   ports are a userspace listener on 127.0.0.1: no bridge, no iptables rules.
 *
 * This machine's cgroup layout is v1 with a cgroup2 `unified` mount that has a controller (hugetlb); crun 1.8 refuses
 * that ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"), so the namespace unmounts
 * `unified` (in the namespace only). crun also cannot set Podman's default RLIMIT_NOFILE and RLIMIT_NPROC here
 * (EPERM: they exceed this machine's hard limits), so containers run with explicit, lower `--ulimit`s.
 *
 * The image is made here, with no registry: a rootfs of busybox-static (bin/busybox and its applet links) imported
 * with `podman import`.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type RunResult, run } from "./e2e.ts";
import { type Requirement, requireAll, requirement, requireRoot, requireTools } from "./tools.ts";

export const TEST_IMAGE = "localhost/gotunnel-test/busybox:latest";
const SERVICE_START_TIMEOUT_MS = 30_000;
const PODMAN_TIMEOUT_MS = 120_000;
const BUSYBOX = "/bin/busybox";
/** podman system service drains its connections on SIGTERM; it stops within a second when idle. */
const STOP_GRACE_MS = 5_000;

/** Root, podman (and slirp4netns for its networking), unshare, and a static busybox to build the image from. */
export function requirePodman(): Requirement {
  return requireAll(
    requireRoot("run podman's API service in a private mount namespace"),
    requireTools("podman", "slirp4netns", "unshare", "busybox"),
    staticBusybox(),
  );
}

/** Debian's `busybox` package is linked against libc, which the image would not have: busybox-static is needed. */
function staticBusybox(): Requirement {
  if (!existsSync(BUSYBOX)) return requirement("needs /bin/busybox: apt-get install busybox-static");
  const head = readFileSync(BUSYBOX).subarray(0, 4096).toString("latin1");
  return requirement(
    head.includes("/ld-linux") ? "/bin/busybox is dynamically linked: apt-get install busybox-static" : undefined,
  );
}

export interface ContainerSpec {
  name: string;
  labels?: Record<string, string>;
  /** Container ports to publish on 127.0.0.1, each on a free host port. */
  publish: number[];
  /** busybox httpd listens on this port, serving /www. */
  httpPort: number;
}

export class PodmanService {
  private constructor(
    readonly dir: string,
    /** The API's address: `unix:///path` or `tcp://127.0.0.1:port`, as DOCKER_HOST spells it. */
    readonly dockerHost: string,
    private readonly proc: ReturnType<typeof Bun.spawn>,
    private readonly log: string,
    private readonly shortDir: string,
  ) {}

  /**
   * Starts the API service with its storage in `dir`, listening on `listen`: a socket path (default
   * `dir/podman.sock`) or `{ tcpPort }` on 127.0.0.1.
   */
  static async start(
    dir: string,
    listen: string | { tcpPort: number } = join(dir, "podman.sock"),
  ): Promise<PodmanService> {
    const dockerHost = typeof listen === "string" ? `unix://${listen}` : `tcp://127.0.0.1:${listen.tcpPort}`;
    for (const sub of ["root", "net", "home"]) mkdirSync(join(dir, sub), { recursive: true });
    // Short paths: slirp4netns refuses an API socket path of 108 bytes or more (sun_path), and podman puts it in
    // --tmpdir; podman refuses a --runroot longer than 50 characters.
    const shortDir = mkdtempSync("/tmp/gtpd-");
    mkdirSync(join(shortDir, "run"));
    writeFileSync(
      join(dir, "containers.conf"),
      '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "crun"\n',
    );
    writeFileSync(
      join(dir, "storage.conf"),
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, "root")}"\nrunroot = "${join(shortDir, "run")}"\n`,
    );
    if (typeof listen === "string") rmSync(listen, { force: true });
    const script = join(dir, "service.sh");
    writeFileSync(script, serviceScript(dir, shortDir, dockerHost));
    chmodSync(script, 0o755);
    const log = join(dir, `service-${Date.now()}.log`);
    const output = openSync(log, "a");
    // A private pid namespace too: the service is its init, so when it exits the kernel ends every conmon and
    // slirp4netns it started and reaps them (this machine's init does not reap orphans).
    const unshare = [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "--pid",
      "--fork",
      "--kill-child",
      "--mount-proc",
    ];
    const proc = Bun.spawn([...unshare, script], {
      env: podmanEnv(dir),
      stdin: "ignore",
      stdout: output,
      stderr: output,
    });
    closeSync(output);
    const service = new PodmanService(dir, dockerHost, proc, log, shortDir);
    const deadline = Date.now() + SERVICE_START_TIMEOUT_MS;
    while (!(await service.answers())) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await service.stop();
        throw new Error(`podman system service did not start (exit ${proc.exitCode}):\n${service.logText()}`);
      }
      await Bun.sleep(100);
    }
    return service;
  }

  private get socket(): string | undefined {
    return this.dockerHost.startsWith("unix://") ? this.dockerHost.slice("unix://".length) : undefined;
  }

  async answers(): Promise<boolean> {
    const { socket } = this;
    if (socket !== undefined && !existsSync(socket)) return false;
    try {
      const url =
        socket === undefined ? `${this.dockerHost.replace("tcp://", "http://")}/_ping` : "http://localhost/_ping";
      const response = await fetch(url, socket === undefined ? {} : { unix: socket });
      return response.ok;
    } catch {
      return false; // Not listening yet.
    }
  }

  logText(): string {
    return existsSync(this.log) ? readFileSync(this.log, "utf8") : "";
  }

  /** `podman --remote` against this service: every change goes through the API, so its events are the service's. */
  async podman(args: string[]): Promise<RunResult> {
    const result = await run(["podman", "--remote", "--url", this.dockerHost, ...args], {
      env: podmanEnv(this.dir),
      timeoutMs: PODMAN_TIMEOUT_MS,
    });
    if (result.exitCode !== 0) {
      throw new Error(`podman ${args.join(" ")} failed (${result.exitCode}): ${result.stderr}\n${this.logText()}`);
    }
    return result;
  }

  /** Imports a busybox rootfs with `files` (path → text) under /www as TEST_IMAGE. */
  async importImage(files: Record<string, string>): Promise<void> {
    const rootfs = join(this.dir, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    writeFileSync(join(rootfs, "bin", "busybox"), readFileSync(BUSYBOX), { mode: 0o755 });
    for (const applet of ["sh", "httpd"]) symlinkSync("busybox", join(rootfs, "bin", applet));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(rootfs, "www", path, ".."), { recursive: true });
      writeFileSync(join(rootfs, "www", path), text);
    }
    const tar = join(this.dir, "rootfs.tar");
    const packed = await run(["tar", "-C", rootfs, "-cf", tar, "."]);
    if (packed.exitCode !== 0) throw new Error(`tar failed: ${packed.stderr}`);
    await this.podman(["import", tar, TEST_IMAGE]);
  }

  /** Runs busybox httpd in a new container; returns its id. */
  async runContainer(spec: ContainerSpec): Promise<string> {
    const labels = Object.entries(spec.labels ?? {}).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
    const ports = spec.publish.flatMap((port) => ["-p", `127.0.0.1::${port}`]);
    const result = await this.podman([
      "run",
      "-d",
      "--name",
      spec.name,
      ...CONTAINER_FLAGS,
      ...ports,
      ...labels,
      TEST_IMAGE,
      "busybox",
      "httpd",
      "-f",
      "-p",
      String(spec.httpPort),
      "-h",
      "/www",
    ]);
    return result.stdout.trim();
  }

  /** The host port a container port is published on (127.0.0.1). */
  async hostPort(name: string, containerPort: number): Promise<number> {
    const result = await this.podman(["port", name, `${containerPort}/tcp`]);
    return Number(result.stdout.trim().split(":").pop());
  }

  /**
   * Removes every container and stops the service; idempotent. Whatever is left (conmon, slirp4netns, the containers'
   * processes) ends with the service's pid namespace.
   */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && (await this.answers())) {
      await this.podman(["rm", "--all", "--force", "--time", "0"]).catch((error: unknown) => {
        console.error(`podman rm --all failed: ${String(error)}`);
      });
    }
    // unshare --fork ignores SIGTERM while it waits for its child, the namespace's init (podman), which a signal
    // from outside reaches only when it handles it: SIGTERM first, then SIGKILL, which always reaches it.
    const init = childOf(this.proc.pid);
    if (init !== undefined) {
      signal(init, "SIGTERM");
      const exited = await Promise.race([
        this.proc.exited.then(() => true),
        Bun.sleep(STOP_GRACE_MS).then(() => false),
      ]);
      if (!exited) signal(init, "SIGKILL");
    }
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
    if (this.socket !== undefined) rmSync(this.socket, { force: true });
    rmSync(this.shortDir, { recursive: true, force: true });
  }
}

/** The one child of `pid` (unshare --fork's), from /proc. */
function childOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return children ? Number(children.split(/\s+/)[0]) : undefined;
  } catch {
    return undefined; // Already gone.
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** Everything podman reads from its environment points into the test's dir. */
function podmanEnv(dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "home", ".config"),
    XDG_DATA_HOME: join(dir, "home", ".local", "share"),
    CONTAINERS_CONF: join(dir, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
  };
}

/** See the file comment: why each flag. */
const CONTAINER_FLAGS = [
  "--cgroups=disabled",
  "--network=slirp4netns:port_handler=slirp4netns",
  "--ulimit=nofile=1024:1024",
  "--ulimit=nproc=1024:1024",
];

function serviceScript(dir: string, shortDir: string, dockerHost: string): string {
  const global = [
    `--root=${join(dir, "root")}`,
    `--runroot=${join(shortDir, "run")}`,
    "--storage-driver=vfs",
    "--cgroup-manager=cgroupfs",
    "--events-backend=file",
    `--tmpdir=${join(shortDir, "tmp")}`,
    `--network-config-dir=${join(dir, "net")}`,
  ].join(" ");
  return `#!/bin/sh
# Runs in a private mount namespace (unshare --mount --propagation private): nothing mounted here reaches the host.
set -e
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && mountpoint -q /sys/fs/cgroup/unified; then
  umount /sys/fs/cgroup/unified
fi
mount -t tmpfs tmpfs /run
# Podman 4.3 keeps its blob-info cache in /var/lib/containers whatever --root says; a mount point cannot be made
# without creating it on the host, so when it is missing the whole /var/lib is hidden (podman needs nothing else there).
if [ -d /var/lib/containers ]; then mount -t tmpfs tmpfs /var/lib/containers; else mount -t tmpfs tmpfs /var/lib; fi
if [ -d /etc/containers/networks ]; then mount -t tmpfs tmpfs /etc/containers/networks; fi
exec podman ${global} system service --time=0 ${dockerHost}
`;
}
