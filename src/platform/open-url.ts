/**
 * Opening a URL in the user's browser, as `gh browse` and `npm docs` do: the desktop's own opener (xdg-open from
 * xdg-utils, macOS `open`, Windows `start`), only when someone is there to see it: a terminal, and on Linux a
 * graphical session (DISPLAY for X11, WAYLAND_DISPLAY for Wayland). Otherwise the caller prints the URL.
 */

export interface OpenContext {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  /** Whether stdout is a terminal: in a script or CI nobody would see a browser window. */
  isTTY: boolean;
}

/** The argv that opens `url`, or undefined where gotunnel knows no opener. */
export function openerCommand(platform: NodeJS.Platform, url: string): string[] | undefined {
  switch (platform) {
    case "darwin":
      return ["open", url];
    // `start` is a cmd builtin; its first quoted argument is a window title, hence the empty one.
    case "win32":
      return ["cmd", "/c", "start", '""', url];
    case "linux":
    case "freebsd":
    case "openbsd":
      return ["xdg-open", url];
    default:
      return undefined;
  }
}

/** Whether a browser window would reach the user: a terminal, and a graphical session where that is optional. */
export function canOpenBrowser({ platform, env, isTTY }: OpenContext): boolean {
  if (!isTTY) return false;
  if (platform === "darwin" || platform === "win32") return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/**
 * Starts the opener and does not wait for it (xdg-open may stay until the browser exits). False when the opener is
 * not installed, so the caller can say so and print the URL.
 */
export function openUrl(url: string, platform: NodeJS.Platform = process.platform): boolean {
  const argv = openerCommand(platform, url);
  if (!argv || Bun.which(argv[0]!) === null) return false;
  const child = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true });
  child.unref();
  return true;
}
