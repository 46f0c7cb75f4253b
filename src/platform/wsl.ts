/**
 * WSL details that are not a trust store (tls/truststore/wsl.ts puts the CA in the Windows store too): which route
 * names a browser running on Windows reaches. WSL2 forwards Windows' localhost ports to the Linux side (NAT mode's
 * `localhostForwarding`, on by default, or `networkingMode=mirrored`; learn.microsoft.com/windows/wsl/networking),
 * and Windows browsers resolve `*.localhost` to loopback by themselves, so `.localhost` routes just work. Any other
 * name, `.local` included, Windows resolves on its own: our hosts file and mDNS responder live on the Linux side,
 * behind WSL's NAT. The Windows hosts file can send those names to 127.0.0.1, but only an Administrator may write it,
 * so doctor offers the exact command and gotunnel never writes it on its own.
 */

/** The Windows hosts file as WSL mounts drive C: (the default automount root, /etc/wsl.conf [automount] root). */
export const WSL_WINDOWS_HOSTS = "/mnt/c/Windows/System32/drivers/etc/hosts";
/** Ends every line the command adds, so they are found and removed again (README, "undo"). */
export const WSL_HOSTS_MARKER = "# gotunnel-wsl";
const LOOPBACK = new Set(["127.0.0.1", "::1"]);

/** Names a hosts text maps to loopback, lower-cased. */
export function loopbackNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const [address, ...rest] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (address && LOOPBACK.has(address)) for (const name of rest) names.add(name.toLowerCase());
  }
  return names;
}

export interface WindowsReach {
  /** Route names Windows browsers cannot resolve yet (wildcards never can: a hosts file has no wildcards). */
  missing: string[];
  /** The PowerShell line, for an Administrator PowerShell on Windows, that adds them; undefined when none. */
  command: string | undefined;
}

/**
 * Which of `names` a Windows browser reaches from this WSL distribution, given the Windows hosts file's text
 * (undefined when it cannot be read), and the command that adds the rest.
 */
export function windowsReach(names: readonly string[], windowsHosts: string | undefined): WindowsReach {
  const present = loopbackNames(windowsHosts ?? "");
  const missing = names.filter(
    (name) => !name.startsWith("*.") && !name.endsWith(".localhost") && !present.has(name.toLowerCase()),
  );
  if (missing.length === 0) return { missing, command: undefined };
  // Add-Content appends no line break first: start a new line when the file does not end with one.
  const newline = windowsHosts && !windowsHosts.endsWith("\n") ? "`r`n" : "";
  const line = `${newline}127.0.0.1 ${missing.join(" ")} ${WSL_HOSTS_MARKER}`;
  return {
    missing,
    command: `Add-Content -Encoding ascii -Path "$env:SystemRoot\\System32\\drivers\\etc\\hosts" -Value "${line}"`,
  };
}
