/**
 * The login service of this OS (STYLE.md rule 1: one interface, one file per OS, and this the only reader of
 * process.platform): systemd.ts (Linux), launchd.ts (macOS), task-scheduler.ts (Windows).
 */
import { realpathSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { readTextFile } from "../detect.ts";
import { userName } from "../owner.ts";
import { systemRunner } from "../runner.ts";
import { launchdService } from "./launchd.ts";
import { systemdService } from "./systemd.ts";
import { taskSchedulerService } from "./task-scheduler.ts";
import type { LoginService, ServiceContext } from "./types.ts";

export { serviceSpec } from "./spec.ts";
export type { LoginService, PortAccess, ServiceContext, ServiceSpec, ServiceState } from "./types.ts";

export function serviceContext(stateDir: string, options: Partial<ServiceContext> = {}): ServiceContext {
  return {
    runner: systemRunner,
    home: homedir(),
    env: process.env,
    uid: process.getuid?.(),
    user: loginName(),
    readText: readTextFile,
    selfExe: realpathSync(process.execPath),
    stateDir,
    ...options,
  };
}

/** Bun's userInfo() says "unknown" when the environment has no USER (a service, `env -i`): passwd knows better. */
function loginName(): string {
  const name = userInfo().username;
  const uid = process.getuid?.();
  return name && name !== "unknown" ? name : uid === undefined ? name : userName(uid);
}

/** Undefined on an OS without a login service gotunnel knows (the daemon still starts on demand there). */
export function loginService(context: ServiceContext, platform = process.platform): LoginService | undefined {
  switch (platform) {
    case "linux":
      return systemdService(context);
    case "darwin":
      return launchdService(context);
    case "win32":
      return taskSchedulerService(context);
    default:
      return undefined;
  }
}
