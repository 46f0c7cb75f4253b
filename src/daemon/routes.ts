/**
 * The daemon's route table: who owns which name, which session (a running `gotunnel up`) added it, what must be
 * persisted, and which restored routes cannot be served (kept, so `gotunnel list` can say why and `stop` can remove
 * them). Pure logic with no I/O, so the ownership rules are unit-testable. The service changes a clone and adopts
 * it only once the change is committed (service.ts), so a refused change leaves the table as it was.
 *
 * Routes found by docker discovery (daemon/discovery.ts) are kept apart from the users' own: never persisted, and a
 * user's route of the same name hides the discovered one (served again once the user's route goes).
 */
import { compareCodeUnits } from "../core/compare.ts";
import { GotunnelError } from "../core/errors.ts";
import type { AddRoutesRequest, Owner, RemoveRoutesRequest } from "./control/protocol.ts";
import type { RouteRecord } from "./state.ts";

export function ownerLabel(owner: Owner): string {
  if (owner.kind === "docker") return `container ${owner.container} (docker)`;
  return owner.kind === "project" ? `project ${owner.dir}` : `command in ${owner.cwd}`;
}

/** Docker's short form of a container id, as `docker ps` shows it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

function sameOwner(a: Owner, b: Owner): boolean {
  if (a.kind === "docker") return b.kind === "docker" && a.id === b.id;
  if (b.kind === "docker") return false;
  return a.kind === b.kind && (a.kind === "project" ? a.dir === (b as typeof a).dir : a.cwd === (b as typeof a).cwd);
}

/** `api` → `api.local`, as `start` does for a bare name. */
export function fullName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes(".") ? lower : `${lower}.local`;
}

/** Why a route restored from the state file is not served, and how to fix or remove it. */
export interface RouteProblem {
  message: string;
  hint: string;
}

export class RouteTable {
  private readonly records = new Map<string, RouteRecord>();
  /** Route name → id of the session that added it; routes added outside a session have none. */
  private readonly sessions = new Map<string, string>();
  /** Route name → why it is not served. Such routes stay persisted until stopped or added again. */
  private readonly problems = new Map<string, RouteProblem>();
  /** Route name → the route docker discovery found for a running container; a user's route of that name wins. */
  private readonly discovered = new Map<string, RouteRecord>();

  constructor(initial: readonly RouteRecord[] = []) {
    for (const record of initial) this.records.set(record.name, record);
  }

  /** An independent copy to change; the original is untouched until the caller adopts the copy. */
  clone(): RouteTable {
    const copy = new RouteTable([...this.records.values()]);
    for (const [name, session] of this.sessions) copy.sessions.set(name, session);
    for (const [name, problem] of this.problems) copy.problems.set(name, problem);
    for (const [name, record] of this.discovered) copy.discovered.set(name, record);
    return copy;
  }

  /** Every route, served or not, by name: the users' routes, and the discovered ones no user route hides. */
  list(): RouteRecord[] {
    const visible = [...this.discovered.values()].filter((record) => !this.records.has(record.name));
    return [...this.records.values(), ...visible].sort((a, b) => compareCodeUnits(a.name, b.name));
  }

  /** Sets (or, with undefined, removes) the discovered route of `name`. */
  discover(name: string, record: RouteRecord | undefined): void {
    if (record) this.discovered.set(name, record);
    else this.discovered.delete(name);
  }

  /** Discovered routes hidden by a user's route of the same name, each with the route that wins. */
  shadowed(): { discovered: RouteRecord; user: RouteRecord }[] {
    return [...this.discovered.values()].flatMap((discovered) => {
      const user = this.records.get(discovered.name);
      return user ? [{ discovered, user }] : [];
    });
  }

  /** The routes the proxy serves: every route without a problem. */
  served(): RouteRecord[] {
    return this.list().filter((record) => !this.problems.has(record.name));
  }

  problemOf(name: string): RouteProblem | undefined {
    return this.problems.get(name);
  }

  /** Keeps the route (it stays persisted) but stops serving it until it is added again. */
  refuse(name: string, problem: RouteProblem): void {
    if (this.records.has(name)) this.problems.set(name, problem);
  }

  persisted(): RouteRecord[] {
    return [...this.records.values()]
      .filter((record) => record.persistent)
      .sort((a, b) => compareCodeUnits(a.name, b.name));
  }

  sessionOf(name: string): string | undefined {
    return this.sessions.get(name);
  }

  /** The ids of the sessions that hold at least one route. */
  sessionIds(): Set<string> {
    return new Set(this.sessions.values());
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
      this.problems.delete(record.name);
      if (sessionId) this.sessions.set(record.name, sessionId);
      else this.sessions.delete(record.name);
    }
    return added;
  }

  /**
   * Removes matching users' routes; returns the names removed. A discovered route follows its container, so asking
   * for one by name is an E_USAGE that says how to remove it; `all` leaves them.
   */
  remove(request: RemoveRoutesRequest): string[] {
    if ("names" in request) this.refuseDiscovered(request.names);
    const matches = (record: RouteRecord) => {
      if ("all" in request) return true;
      // The exact name too: a route restored from a hand-edited state file may have a name fullName would change.
      if ("names" in request)
        return request.names.some((name) => record.name === name || record.name === fullName(name));
      return sameOwner(record.owner, request.owner);
    };
    return this.drop(matches);
  }

  private refuseDiscovered(names: readonly string[]): void {
    for (const name of names) {
      const found = this.discovered.get(name) ?? this.discovered.get(fullName(name));
      if (!found || this.records.has(found.name) || found.owner.kind !== "docker") continue;
      const { container, id } = found.owner;
      throw new GotunnelError(
        "E_USAGE",
        `${found.name} is discovered from container ${container} (${shortId(id)}), not a route of yours`,
        {
          hint: `it goes when the container stops (\`docker stop ${container}\`), or remove its gotunnel.route label`,
          details: { name: found.name, owner: found.owner },
        },
      );
    }
  }

  /** Removes the routes a session still holds (another owner may have taken some over with --force). */
  endSession(sessionId: string): string[] {
    return this.drop((record) => this.sessions.get(record.name) === sessionId);
  }

  /** Users' routes only: a discovered route goes with its container (discover). */
  private drop(matches: (record: RouteRecord) => boolean): string[] {
    const removed = [...this.records.values()].filter(matches).sort((a, b) => compareCodeUnits(a.name, b.name));
    for (const record of removed) {
      this.records.delete(record.name);
      this.sessions.delete(record.name);
      this.problems.delete(record.name);
    }
    return removed.map((record) => record.name);
  }
}
