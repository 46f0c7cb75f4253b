/**
 * A Gateway that serves nothing, for tests of the daemon service's own logic (DaemonService over a temp state file
 * and hosts file): every route is accepted and every swap succeeds. A test that needs refusals builds its own.
 */
import type { Gateway } from "../../src/daemon/gateway.ts";

export function stubGateway(): Gateway {
  const gateway = {
    caCreated: false,
    ca: { certPath: "/nonexistent/rootCA.pem", notAfter: new Date("2030-01-01") },
    ports: { https: 8443, http: 8080 },
    refused: [],
    urlOf: (route: { name: string }) => `https://${route.name}:8443`,
    checkTls: () => undefined,
    prepare: async () => undefined,
    setRoutes: async () => undefined,
  };
  return gateway as unknown as Gateway;
}
