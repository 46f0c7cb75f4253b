import { defineConfig } from "gotunnel";

// `*.localhost` names resolve to loopback in browsers and curl without touching the hosts file (RFC 6761 §6.3).
// Ports 8443/8080 need no privileges; use 443/80 (with sudo or setcap) for URLs without a port.
export default defineConfig({
  routes: { "hello.localhost": 3000 },
  proxy: { httpsPort: 8443, httpPort: 8080 },
});
