/**
 * What the daemon process and the commands that start and stop it share. Kept apart from daemon.ts so that `up`,
 * `start` and the other clients do not load the daemon's whole module graph (proxy, TLS, mDNS, telemetry) only to
 * read a few names (issue 18: the `up` client's memory).
 */
/** How long in-flight requests get to finish after a stop signal before connections are cut. */
export const SHUTDOWN_GRACE_MS = 5_000;
/** The daemon's output, in its state directory. */
export const LOG_FILE = "daemon.log";
// The control socket's path is control/endpoint.ts's (a small module too: it differs on Windows).
