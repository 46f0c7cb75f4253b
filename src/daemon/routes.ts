/**
 * The daemon's route table: who owns which name, which session (a running `gotunnel up`) added it, and what must be
 * persisted. Pure logic with no I/O, so the ownership rules are unit-testable.
 */
import { GotunnelError } from "../core/errors.ts";
import type { AddRoutesRequest, Owner, RemoveRoutesRequest } from "./control/protocol.ts";
import type { RouteRecord } from "./state.ts";

export function ownerLabel(owner: Owner): string {
  return owner.kind === "project" ? `project ${owner.dir}` : `command in ${owner.cwd}`;
}

function sameOwner(a: Owner, b: Owner): boolean {
  return a.kind === b.kind && (a.kind === "project" ? a.dir === (b as typeof a).dir : a.cwd === (b as typeof a).cwd);
}

/** `api` → `api.local`, as `start` does for a bare name. */
export function fullName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes(".") ? lower : `${lower}.local`;
}

export class RouteTable {
  private readonly records = new Map<string, RouteRecord>();
  /** Route name → id of the session that added it; routes added outside a session have none. */
  private readonly sessions = new Map<string, string>();

  constructor(initial: readonly RouteRecord[] = []) {
    for (const record of initial) this.records.set(record.name, record);
  }

  list(): RouteRecord[] {
    return [...this.records.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  persisted(): RouteRecord[] {
    return this.list().filter((record) => record.persistent);
  }

  sessionOf(name: string): string | undefined {
    return this.sessions.get(name);
  }

  /** Throws E_USAGE naming the owner when a name belongs to someone else and `force` is not set. */
  add(request: AddRoutesRequest, sessionId?: string, now = new Date()): RouteRecord[] {
    if (!request.force) {
      for (const route of request.routes) {
        const existing = this.records.get(route.name);
        if (existing && !sameOwner(existing.owner, request.owner)) {
          throw new GotunnelError("E_USAGE", `${route.name} is already served for ${ownerLabel(existing.owner)}`, {
            hint: `stop it there (\`gotunnel stop ${route.name}\`), or take it over with --force`,
            details: { name: route.name, owner: existing.owner },
          });
        }
      }
    }
    const added = request.routes.map((route) => ({
      ...route,
      owner: request.owner,
      persistent: request.persistent,
      addedAt: now.toISOString(),
    }));
    for (const record of added) {
      this.records.set(record.name, record);
      if (sessionId) this.sessions.set(record.name, sessionId);
      else this.sessions.delete(record.name);
    }
    return added;
  }

  /** Removes matching routes; returns the names removed. */
  remove(request: RemoveRoutesRequest): string[] {
    const matches = (record: RouteRecord) => {
      if ("all" in request) return true;
      if ("names" in request) return request.names.some((name) => record.name === fullName(name));
      return sameOwner(record.owner, request.owner);
    };
    return this.drop(matches);
  }

  /** Removes the routes a session still holds (another owner may have taken some over with --force). */
  endSession(sessionId: string): string[] {
    return this.drop((record) => this.sessions.get(record.name) === sessionId);
  }

  private drop(matches: (record: RouteRecord) => boolean): string[] {
    const removed = this.list().filter(matches);
    for (const record of removed) {
      this.records.delete(record.name);
      this.sessions.delete(record.name);
    }
    return removed.map((record) => record.name);
  }
}
