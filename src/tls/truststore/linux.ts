/**
 * The Linux system trust store: our CA as one anchor file named after its fingerprint, then the distribution's
 * update tool rebuilds the bundle that curl, OpenSSL, Python and Go read. The anchor file is the only thing we own;
 * removing it and running the update tool again is the exact inverse.
 */
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { installCommand, type LinuxFamily, readTextFile } from "../../platform/detect.ts";
import { formatCommand } from "../../platform/runner.ts";
import {
  type Availability,
  bundleContains,
  CHANGED,
  type Change,
  runOrThrow,
  type StoreContext,
  storeLabel,
  type TrustedCA,
  type TrustStore,
} from "./types.ts";

export interface LinuxLayout {
  label: string;
  /** Where administrators drop extra anchors for the update tool to pick up. */
  anchorDir: string;
  /** Debian's update-ca-certificates only reads `*.crt` in its directory. */
  extension: ".crt" | ".pem";
  update: string[];
  /** The bundle the update tool writes: our CA in it means TLS clients on the system trust it. */
  bundle: string;
  /** Package that provides the update tool, per family, for the install hint. */
  packages: Partial<Record<LinuxFamily, string>>;
  /**
   * Debian's update-ca-certificates links each anchor into this directory (`<name>.pem` and a `<hash>.N` link to it)
   * but, when an anchor file is deleted, counts nothing as removed and skips its orphan cleanup (the script's
   * "only run if set of files has changed"), so our two links would stay behind dangling. We remove exactly those.
   */
  linkDir?: string;
}

/**
 * Each family's documented anchor directory and update command (update-ca-certificates(8) on Debian/Alpine/openSUSE,
 * update-ca-trust(8) on Fedora/RHEL and Arch). On Arch `trust anchor --store` also works but names the file itself;
 * a file we name makes the check and the removal exact.
 */
export const LINUX_LAYOUTS: Record<Exclude<LinuxFamily, "unknown">, LinuxLayout> = {
  debian: {
    label: "Debian/Ubuntu",
    anchorDir: "/usr/local/share/ca-certificates",
    extension: ".crt",
    update: ["update-ca-certificates"],
    bundle: "/etc/ssl/certs/ca-certificates.crt",
    packages: { debian: "ca-certificates" },
    linkDir: "/etc/ssl/certs",
  },
  alpine: {
    label: "Alpine",
    anchorDir: "/usr/local/share/ca-certificates",
    extension: ".crt",
    update: ["update-ca-certificates"],
    bundle: "/etc/ssl/certs/ca-certificates.crt",
    packages: { alpine: "ca-certificates" },
    linkDir: "/etc/ssl/certs",
  },
  fedora: {
    label: "Fedora/RHEL",
    anchorDir: "/etc/pki/ca-trust/source/anchors",
    extension: ".pem",
    update: ["update-ca-trust", "extract"],
    bundle: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    packages: { fedora: "ca-certificates" },
  },
  arch: {
    label: "Arch",
    anchorDir: "/etc/ca-certificates/trust-source/anchors",
    extension: ".crt",
    update: ["update-ca-trust"],
    bundle: "/etc/ssl/certs/ca-certificates.crt",
    packages: { arch: "ca-certificates-utils" },
  },
  suse: {
    label: "openSUSE/SLES",
    anchorDir: "/etc/pki/trust/anchors",
    extension: ".pem",
    update: ["update-ca-certificates"],
    bundle: "/var/lib/ca-certificates/ca-bundle.pem",
    packages: { suse: "ca-certificates" },
  },
};

export function linuxSystemStore(context: StoreContext, layoutOverride?: LinuxLayout): TrustStore {
  const family = context.os.family;
  const layout = layoutOverride ?? (family === "unknown" ? undefined : LINUX_LAYOUTS[family]);
  return layout ? new LinuxSystemStore(context, layout) : new UnknownLinuxStore(context);
}

class UnknownLinuxStore implements TrustStore {
  readonly id = "system";
  readonly name = "Linux system store";
  constructor(private readonly context: StoreContext) {}

  async detect(): Promise<Availability> {
    return {
      ok: false,
      reason: `gotunnel does not know where ${this.context.os.distro ?? "this distribution"} keeps extra CAs`,
      fix: "add the file printed by `gotunnel ca` to your system's CA anchors by hand",
    };
  }
  isTrusted = async () => false;
  elevation = () => undefined;
  install = async (): Promise<Change> => ({ changed: false, reason: "unknown distribution" });
  uninstall = this.install;
}

class LinuxSystemStore implements TrustStore {
  readonly id = "system";
  readonly name: string;
  readonly #sudo: string[];

  constructor(
    private readonly context: StoreContext,
    private readonly layout: LinuxLayout,
  ) {
    this.name = `${layout.label} system store (${layout.anchorDir})`;
    this.#sudo = context.isRoot ? [] : ["sudo"];
  }

  async detect(): Promise<Availability> {
    const { runner, os, isRoot } = this.context;
    const tool = this.layout.update[0]!;
    const fix = installCommand(os, this.layout.packages);
    if (!runner.which(tool)) return { ok: false, reason: `${tool} is not installed`, fix };
    if (!existsSync(this.layout.anchorDir))
      return { ok: false, reason: `${this.layout.anchorDir} does not exist`, fix };
    if (!isRoot && !runner.which("sudo")) {
      return { ok: false, reason: "changing it needs root, and sudo is not installed", fix: "run it as root" };
    }
    return { ok: true };
  }

  async isTrusted(ca: TrustedCA): Promise<boolean> {
    return this.#anchorHolds(ca) && bundleContains(readTextFile(this.layout.bundle) ?? "", ca);
  }

  async hasLeftovers(ca: TrustedCA): Promise<boolean> {
    return readTextFile(this.#anchorPath(ca)) !== undefined || ourLinks(this.layout, this.#anchorPath(ca)).length > 0;
  }

  elevation(): string | undefined {
    if (this.context.isRoot) return undefined;
    const commands = [`sudo tee ${this.layout.anchorDir}/…`, formatCommand([...this.#sudo, ...this.layout.update])];
    return `the system store belongs to root: gotunnel runs \`${commands.join("` and `")}\`, and sudo may ask for your password`;
  }

  async install(ca: TrustedCA): Promise<Change> {
    if (!this.#anchorHolds(ca)) {
      const argv = [...this.#sudo, "tee", this.#anchorPath(ca)];
      await runOrThrow(this.context, argv, "write the CA anchor file", { input: ca.certPem });
    }
    await this.#update();
    return CHANGED;
  }

  async uninstall(ca: TrustedCA): Promise<Change> {
    const anchor = this.#anchorPath(ca);
    const text = readTextFile(anchor);
    if (text !== undefined && !bundleContains(text, ca)) {
      return { changed: false, reason: `${anchor} holds another certificate; it was left alone` };
    }
    const ours = [...(text === undefined ? [] : [anchor]), ...ourLinks(this.layout, anchor)];
    if (ours.length > 0) await runOrThrow(this.context, [...this.#sudo, "rm", "-f", ...ours], "remove the CA anchor");
    await this.#update();
    return CHANGED;
  }

  #anchorPath(ca: TrustedCA): string {
    return join(this.layout.anchorDir, `${storeLabel(ca)}${this.layout.extension}`);
  }

  #anchorHolds(ca: TrustedCA): boolean {
    return bundleContains(readTextFile(this.#anchorPath(ca)) ?? "", ca);
  }

  #update() {
    return runOrThrow(this.context, [...this.#sudo, ...this.layout.update], "update the system trust store");
  }
}

/** `<linkDir>/<anchor name>.pem` pointing at our anchor, and the `<hash>.N` links pointing at that `.pem`. */
export function ourLinks(layout: LinuxLayout, anchor: string): string[] {
  if (!layout.linkDir || !existsSync(layout.linkDir)) return [];
  const pemName = `${basename(anchor, layout.extension)}.pem`;
  const links: string[] = [];
  for (const name of readdirSync(layout.linkDir)) {
    const path = join(layout.linkDir, name);
    const target = linkTarget(path);
    if ((name === pemName && target === anchor) || target === pemName) links.push(path);
  }
  return links.sort();
}

function linkTarget(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EINVAL") return undefined; // a regular file, not a link
    throw error;
  }
}
