/**
 * `sudo gotunnel …` for real (issue 15, items 3 and 4): a real unprivileged user (helpers/sudo-user.ts: useradd in a
 * private mount namespace, never this machine's accounts) runs the compiled binary through real `sudo`.
 *
 * - Item 4: on a fresh account every directory gotunnel creates under the home (~/.local, ~/.local/share,
 *   ~/.local/state and below) is the user's, so their next gotunnel without sudo, and other XDG programs, work.
 * - Item 3: root never follows a link the user planted: daemon.log, the state file's temp names, a gotunnel
 *   directory, or an ancestor that leads to root's or another user's directory. Each is refused with exit 8 and a
 *   message naming the path, or (temp names) simply never used; the link's target is untouched.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExitCode } from "../../src/core/errors.ts";
import { BINARY, E2EScope, freePort, type RunResult, requireBinary, waitForExit } from "../helpers/e2e.ts";
import { cleanupNobodyFiles, copyForNobody } from "../helpers/nobody.ts";
import { SUDO_USER_NAME, SudoUser, sudoUserSkipReason } from "../helpers/sudo-user.ts";
import { requirement } from "../helpers/tools.ts";

const sudoUser = requirement(sudoUserSkipReason());
const skipReason = sudoUser.reason;
const STEP_TIMEOUT_MS = 60_000;
/** What a planted link points at: a root-owned file root must neither create nor write. */
const VICTIM = "/etc/gotunnel-victim";
const VICTIM_TEXT = "root's file, not to be touched\n";

const scope = new E2EScope();
let user: SudoUser;
let upstreamPort = 0;

beforeAll(async () => {
  if (skipReason) return;
  requireBinary();
  user = await SudoUser.create(scope.dir("sudo"), copyForNobody(BINARY));
  upstreamPort = await freePort();
});

afterEach(async () => {
  if (!user) return;
  await stopDaemons();
  await user.freshHome();
  const planted = [VICTIM, `${VICTIM}-new`, user.hostsFile, join(user.root, "rootdata"), join(user.root, "root-only")];
  await user.ns.run(["rm", "-rf", ...planted]);
});

afterAll(async () => {
  if (user) await user.ns.stop();
  cleanupNobodyFiles();
  await scope.dispose();
});

const stateDir = () => join(user.home, ".local", "state", "gotunnel");
const dataDir = () => join(user.home, ".local", "share", "gotunnel");

function sudoStart(name = "sudo-demo"): Promise<RunResult> {
  const ports = ["--proxy-https-port", "0", "--proxy-http-port", "0"];
  return user.sudoGotunnel(["start", "-d", name, "-p", String(upstreamPort), ...ports]);
}

/** Every daemon this namespace started: found by the lock files (they hold the pid) of every home layout. */
async function stopDaemons(): Promise<void> {
  const found = await user.ns.sh(`find "$1" -name daemon.lock -exec cat {} + 2>/dev/null || true`, [user.root]);
  for (const pid of found.stdout
    .split("\n")
    .map(Number)
    .filter((pid) => pid > 0)) {
    if (!existsSync(`/proc/${pid}`)) continue;
    process.kill(pid, "SIGTERM");
    if (!(await waitForExit(pid))) process.kill(pid, "SIGKILL");
  }
}

/** Every entry below `dir` (inside the namespace), with its owner: links are listed, never followed. */
function ownersBelow(dir: string): Map<string, number> {
  const root = user.path(dir);
  const owners = new Map<string, number>([[".", lstatSync(root).uid]]);
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    owners.set(path.slice(root.length + 1), lstatSync(path).uid);
  }
  return owners;
}

/** Exit 8, the message (a regex over stderr), and nothing that looks like a crash. */
function expectRefused(result: RunResult, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toContain("crashed");
  expect(result.exitCode).toBe(ExitCode.io);
}

/** The victim file: absent, or exactly as the test wrote it (checked through the namespace). */
function victim(): string | undefined {
  const path = user.path(VICTIM);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

function plantVictim(): void {
  writeFileSync(user.path(VICTIM), VICTIM_TEXT, { mode: 0o600 });
}

describe.skipIf(sudoUser.skip)(sudoUser.title("sudo gotunnel, for real, as an unprivileged user"), () => {
  test(
    "on a fresh account, every directory created under the home is the user's, and gotunnel works without sudo afterwards",
    async () => {
      const started = await sudoStart();
      expect(started.stderr).toBe("");
      expect(started.exitCode).toBe(0);

      const owners = ownersBelow(user.home);
      for (const dir of [".local", ".local/share", ".local/state", ".local/share/gotunnel", ".local/state/gotunnel"]) {
        expect({ dir, owner: owners.get(dir) }).toEqual({ dir, owner: user.uid });
      }
      const notTheUsers = [...owners].filter(([, uid]) => uid !== user.uid).map(([path]) => path);
      expect(notTheUsers).toEqual([]);
      // The files that matter are there: CA, state, log, lock, socket.
      for (const path of [
        "share/gotunnel/ca/rootCA.pem",
        "share/gotunnel/ca/rootCA-key.pem",
        "state/gotunnel/routes.json",
      ]) {
        expect(owners.has(`.local/${path}`)).toBe(true);
      }
      for (const path of [
        "state/gotunnel/daemon.log",
        "state/gotunnel/daemon.lock",
        "state/gotunnel/run/control.sock",
      ]) {
        expect(owners.has(`.local/${path}`)).toBe(true);
      }

      // The same user without sudo: the CA is readable and the daemon answers on the socket root created.
      const ca = await user.gotunnel(["ca"]);
      expect(ca.stderr).toBe("");
      expect(ca.exitCode).toBe(0);
      expect(ca.stdout).toContain(join(dataDir(), "ca", "rootCA.pem"));
      // A desktop session sets XDG_RUNTIME_DIR, which sudo drops: the socket must be where both look.
      const listed = await user.gotunnel(["list", "--json"], { XDG_RUNTIME_DIR: join(user.root, "xdg-runtime") });
      expect(listed.stderr).toBe("");
      expect(listed.exitCode).toBe(0);
      expect(listed.stdout).toContain("sudo-demo.local");
      // And any other XDG program of theirs can write next to gotunnel.
      const other = await user.shAsUser('mkdir "$HOME/.local/share/other-app" "$HOME/.local/state/other-app"');
      expect(other.exitCode).toBe(0);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "an account an older sudo gotunnel left with a root-owned ~/.local: the user's own gotunnel names it and the fix",
    async () => {
      // What main did: ~/.local, ~/.local/share and ~/.local/state created by root (0700), gotunnel's dirs handed back.
      const local = join(user.home, ".local");
      await user.ns.sh(`install -d -m 700 "$1" "$1/share" "$1/state"`, [local]);
      const ca = await user.gotunnel(["ca"]);
      expectRefused(
        ca,
        new RegExp(
          `^error cannot use ${dataDir()}/ca: permission denied, ${local} belongs to root, not to you \\(${SUDO_USER_NAME}\\)$`,
          "m",
        ),
      );
      expect(ca.stderr).toContain(
        `hint  an older \`sudo gotunnel\` may have created it as root; give it back: \`sudo chown -R ${SUDO_USER_NAME}: ${local}\``,
      );
      // The hint, followed, is enough.
      expect((await user.ns.run(["chown", "-R", `${SUDO_USER_NAME}:`, local])).exitCode).toBe(0);
      const again = await user.gotunnel(["ca"]);
      expect(again.stderr).toBe("");
      expect(again.exitCode).toBe(0);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "a daemon.log the user linked to a root file is refused; the file is neither created nor written",
    async () => {
      await user.shAsUser(`mkdir -p "${stateDir()}" && ln -s ${VICTIM}-new "${stateDir()}/daemon.log"`);
      const created = await sudoStart();
      expectRefused(
        created,
        new RegExp(`^error ${stateDir()}/daemon\\.log is a symbolic link: gotunnel runs as root here \\(sudo\\)`, "m"),
      );
      expect(existsSync(user.path(`${VICTIM}-new`))).toBe(false);

      plantVictim();
      await user.shAsUser(`ln -sf ${VICTIM} "${stateDir()}/daemon.log"`);
      const appended = await sudoStart();
      expectRefused(appended, /daemon\.log is a symbolic link/);
      expect(victim()).toBe(VICTIM_TEXT);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "a daemon.log hard-linked to a root file (where fs.protected_hardlinks is off) is refused; the file is untouched",
    async () => {
      // This machine stops users from linking root's files (fs.protected_hardlinks=1; macOS has no such guard), so
      // root makes the link the user could make elsewhere. A hard link cannot cross file systems: the file is on the
      // home's tmpfs, in a directory only root can enter.
      const rootOnly = join(user.root, "root-only");
      await user.ns.sh(
        `install -d -m 700 "$1" && printf 'root only\\n' > "$1/file" && install -d -o "$3" -g "$4" "$2" && ln "$1/file" "$2/daemon.log"`,
        [rootOnly, stateDir(), String(user.uid), String(user.gid)],
      );
      const started = await sudoStart();
      expectRefused(
        started,
        new RegExp(
          `^error ${stateDir()}/daemon\\.log has 1 other name \\(hard links\\) and is not ${SUDO_USER_NAME}'s`,
          "m",
        ),
      );
      expect(readFileSync(user.path(join(rootOnly, "file")), "utf8")).toBe("root only\n");
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "temp names planted for the state file and the CA bundle (<name>.<pid>.tmp) are never opened; both are written",
    async () => {
      plantVictim();
      await user.shAsUser(`mkdir -p "${stateDir()}" "${dataDir()}"`);
      // The next pids will be a little above the last one handed out: cover 2000, planted by one process (perl is part
      // of every Debian) so the planting itself does not use up the pids it covers.
      const plantTemps = async (dir: string, file: string) => {
        const last = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8"));
        const plant = `symlink("${VICTIM}", "${file}.$_.tmp") or die "$!" for ${last} .. ${last + 2000}`;
        const planted = await user.asUser(["sh", "-c", 'cd "$0" && exec perl -e "$1"', dir, plant]);
        expect(planted.stderr).toBe("");
      };
      await plantTemps(stateDir(), "routes.json");
      const started = await sudoStart();
      expect(started.stderr).toBe("");
      expect(started.exitCode).toBe(0);
      expect(victim()).toBe(VICTIM_TEXT);
      const state = user.path(join(stateDir(), "routes.json"));
      expect(lstatSync(state).isFile()).toBe(true);
      expect(lstatSync(state).uid).toBe(user.uid);
      expect(JSON.parse(readFileSync(state, "utf8")).routes[0].name).toBe("sudo-demo.local");

      // `gotunnel env` writes the CA bundle (system roots + our CA) next to the CA.
      await plantTemps(dataDir(), "ca-bundle.pem");
      const env = await user.sudoGotunnel(["env"]);
      expect(env.stderr).toBe("");
      expect(env.exitCode).toBe(0);
      expect(victim()).toBe(VICTIM_TEXT);
      const bundle = user.path(join(dataDir(), "ca-bundle.pem"));
      expect(lstatSync(bundle).isFile()).toBe(true);
      expect(lstatSync(bundle).uid).toBe(user.uid);
      expect(readFileSync(bundle, "utf8")).toContain(
        readFileSync(user.path(join(dataDir(), "ca", "rootCA.pem")), "utf8").trim(),
      );
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "a gotunnel directory that is a link is refused, and root writes nothing where it leads",
    async () => {
      await user.shAsUser(`mkdir -p "$HOME/.local/state" && ln -s /etc "${stateDir()}"`);
      const etcBefore = readdirSync(user.path("/etc")).sort();
      const started = await sudoStart();
      expectRefused(
        started,
        new RegExp(`^error ${stateDir()} is a symbolic link: gotunnel runs as root here \\(sudo\\)`, "m"),
      );
      expect(started.stderr).toContain("hint  gotunnel needs a real directory there");
      expect(readdirSync(user.path("/etc")).sort()).toEqual(etcBefore);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "an ancestor linked into root's directories: no directory is created there, root's own CA is never used",
    async () => {
      // ~/.local/state -> /etc: root would create /etc/gotunnel for the user.
      await user.shAsUser('mkdir -p "$HOME/.local" && ln -s /etc "$HOME/.local/state"');
      const created = await sudoStart();
      expectRefused(
        created,
        new RegExp(
          `^error cannot create ${stateDir()}: ${user.home}/\\.local/state \\(a link to /etc\\) belongs to root, not to ${SUDO_USER_NAME} who ran sudo`,
          "m",
        ),
      );
      expect(existsSync(user.path("/etc/gotunnel"))).toBe(false);

      // ~/.local/share -> a root-owned data dir holding root's own gotunnel CA (trusted system-wide, say).
      const rootData = join(user.root, "rootdata");
      const rootCa = await user.ns.run([user.binary, "ca"], { env: { GOTUNNEL_HOME: join(rootData, "gotunnel") } });
      expect(rootCa.exitCode).toBe(0);
      await user.shAsUser(`ln -s ${rootData} "$HOME/.local/share"`);
      const ca = await user.sudoGotunnel(["ca"]);
      expectRefused(
        ca,
        new RegExp(`^error ${dataDir()}/ca belongs to root, not to ${SUDO_USER_NAME} who ran sudo`, "m"),
      );
      expect(ca.stdout).not.toContain("BEGIN CERTIFICATE");
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "a gotunnel directory that belongs to another user is refused, with the owner named",
    async () => {
      await user.shAsUser(`mkdir -p "${stateDir()}"`);
      await user.ns.run(["chown", "nobody:nogroup", stateDir()]);
      const started = await sudoStart();
      expectRefused(
        started,
        new RegExp(`^error ${stateDir()} belongs to nobody, not to ${SUDO_USER_NAME} who ran sudo`, "m"),
      );
      expect(started.stderr).toContain(`sudo mv ${stateDir()} ${stateDir()}.nobody`);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "links above gotunnel's directories that stay in the user's own files are fine (a dotfiles ~/.local)",
    async () => {
      await user.shAsUser('mkdir -p "$HOME/dotfiles/local" && ln -s dotfiles/local "$HOME/.local"');
      const started = await sudoStart();
      expect(started.stderr).toBe("");
      expect(started.exitCode).toBe(0);
      const owners = ownersBelow(join(user.home, "dotfiles"));
      expect([...owners].filter(([, uid]) => uid !== user.uid)).toEqual([]);
      expect(owners.has("local/state/gotunnel/routes.json")).toBe(true);
    },
    STEP_TIMEOUT_MS,
  );

  test(
    "sudo gotunnel run: the command reaches the route by name over verified HTTPS",
    async () => {
      const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ci ok") });
      try {
        const config = JSON.stringify({ routes: { "ci.local": upstream.port } });
        await user.shAsUser(`printf '%s' '${config}' > "$HOME/gotunnel.config.json"`);
        const script = 'curl -sSf "$GOTUNNEL_URL_CI_LOCAL/"';
        const result = await user.sudoGotunnel(["run", "--wait-timeout", "10s", "--", "sh", "-c", script]);
        expect(result.stderr).not.toContain("error");
        expect(result.stdout).toBe("ci ok");
        expect(result.exitCode).toBe(0);
      } finally {
        upstream.stop(true);
      }
    },
    STEP_TIMEOUT_MS,
  );
});
