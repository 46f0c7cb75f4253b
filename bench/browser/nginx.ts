/**
 * nginx as a careful operator configures it in front of a dev server: HTTP/2 over TLS with a certificate for
 * bench.local from a throwaway CA the bench makes with openssl, an HTTP/1.1 keep-alive pool to Vite, WebSocket
 * upgrades passed through (Vite's HMR socket, nginx.org/en/docs/http/websocket.html), no access log, one worker
 * like the other proxies' single thread, and room for a page's 1,500 requests on one connection.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeFallbackCa, signLeaf } from "../lib/certs.ts";
import { pinned } from "../lib/cpu.ts";
import { nginxVersion } from "../lib/nginx.ts";
import { freePort, spawnManaged, stopManaged, waitForPorts } from "../lib/proc.ts";
import { type BrowserTarget, httpsUrl, PAGE_HOST, SkipTarget, type TargetContext } from "./target.ts";

const START_TIMEOUT_MS = 15_000;

function nginxConf(context: TargetContext, dir: string, port: number, leaf: { cert: string; key: string }): string {
  const temp = join(dir, "temp");
  mkdirSync(temp, { recursive: true });
  return `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  tcp_nodelay on;
  # A connection ends after 1,000 requests by default, h2 ones too (keepalive_requests, nginx.org ngx_http_core_module;
  # it replaced http2_max_requests in 1.19.7). A 1,500-module page then lost its connection mid-load and Chromium
  # failed requests with ERR_FAILED or left them hanging.
  keepalive_requests 100000;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    "" "";
  }
  upstream vite {
    server 127.0.0.1:${context.vitePort};
    keepalive 64;
  }
  server {
    # nginx 1.22 spells h2 as a listen parameter (the http2 directive came in 1.25.1).
    listen ${context.bindHost}:${port} ssl http2;
    server_name ${PAGE_HOST};
    ssl_certificate ${leaf.cert};
    ssl_certificate_key ${leaf.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://vite;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1h;
    }
  }
}
`;
}

export async function startNginx(context: TargetContext): Promise<BrowserTarget> {
  const version = await nginxVersion();
  if (!version) throw new SkipTarget("nginx is not installed (apt-get install -y nginx)");
  const dir = join(context.dir, "nginx");
  mkdirSync(dir, { recursive: true });
  const ca = await makeFallbackCa(dir);
  const leaf = await signLeaf(dir, ca);
  const port = freePort();
  const path = join(dir, "nginx.conf");
  writeFileSync(path, nginxConf(context, dir, port, leaf));
  const cmd = pinned(context.cpus, "server", ["nginx", "-p", dir, "-e", join(dir, "error.log"), "-c", path]);
  const managed = spawnManaged("nginx", cmd, { logPath: join(dir, "nginx.log") });
  await waitForPorts(managed, [port], START_TIMEOUT_MS);
  return {
    name: "nginx",
    url: httpsUrl(port),
    caPath: ca.cert,
    version: `nginx ${version}, 1 worker, h1+h2, a certificate from a throwaway openssl CA`,
    stop: () => stopManaged(managed),
  };
}
