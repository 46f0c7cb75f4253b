/**
 * nginx in two roles: the fixed upstream every proxy forwards to (also the "direct" baseline), and the
 * reference reverse proxy, configured the way a careful operator would (HTTP/1.1 keep-alive pool, no logs).
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HTTP_HOST, HTTPS_HOST } from "./certs.ts";
import { pinned } from "./cpu.ts";
import { BODY_BYTES } from "./matrix.ts";
import { freePort, run, spawnManaged, stopManaged, waitForPorts } from "./proc.ts";
import { type BenchContext, type RunningTarget, SkipTarget } from "./target.ts";

const START_TIMEOUT_MS = 15_000;
// Far above what one cell sends, so neither side ever recycles a keep-alive connection mid-run.
const KEEPALIVE_REQUESTS = 10_000_000;

/** Directives both roles share: foreground, private pid/log/temp paths, no access log. */
function preamble(dir: string, role: string, workers: number): string {
  const temp = join(dir, `${role}-temp`);
  mkdirSync(temp, { recursive: true });
  return `worker_processes ${workers};
worker_rlimit_nofile 65536;
daemon off;
pid ${join(dir, `${role}.pid`)};
error_log ${join(dir, `${role}-error.log`)} warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  tcp_nodelay on;
  keepalive_requests ${KEEPALIVE_REQUESTS};
  keepalive_timeout 300s;
  ssl_session_tickets on;
  # nginx 1.22 offers TLS 1.2 at most unless told; Bun and Caddy negotiate 1.3, whose handshakes cost more.
  ssl_protocols TLSv1.2 TLSv1.3;
`;
}

/** The HTTPS port offers h2 by ALPN (nginx 1.22's `listen … http2`; `http2 on` from 1.25.1), for the h2 cells. */
function listenBlock(httpPort: number, httpsPort: number, context: BenchContext): string {
  return `    listen 127.0.0.1:${httpPort} backlog=4096;
    listen 127.0.0.1:${httpsPort} ssl http2 backlog=4096;
    ssl_certificate ${context.certs.leafCert};
    ssl_certificate_key ${context.certs.leafKey};`;
}

function writeBodies(dir: string): string {
  const www = join(dir, "www");
  mkdirSync(www, { recursive: true });
  for (const [name, bytes] of Object.entries(BODY_BYTES)) writeFileSync(join(www, name), Buffer.alloc(bytes, "x"));
  return www;
}

export async function nginxVersion(): Promise<string | null> {
  if (!Bun.which("nginx")) return null;
  const result = await run(["nginx", "-v"], 5000);
  return /nginx\/(\S+)/.exec(result.stderr)?.[1] ?? "unknown";
}

async function startNginx(context: BenchContext, role: string, conf: string, ports: number[]) {
  const path = join(context.dir, `${role}.conf`);
  writeFileSync(path, conf);
  const errorLog = join(context.dir, `${role}-error.log`);
  const cmd = pinned(context.cpus, "server", ["nginx", "-p", context.dir, "-e", errorLog, "-c", path]);
  const managed = spawnManaged(role, cmd, { logPath: join(context.dir, `${role}.log`), uncache: true });
  await waitForPorts(managed, ports, START_TIMEOUT_MS);
  return managed;
}

export interface Upstream {
  httpPort: number;
  /** The direct baseline; its stop() is a no-op because every other target still needs the upstream. */
  target: RunningTarget;
  stop(): Promise<void>;
}

/** The upstream: one worker, static files from a private dir, sendfile; also the direct baseline's TLS port. */
export async function startUpstream(context: Omit<BenchContext, "upstreamPort">): Promise<Upstream> {
  const version = await nginxVersion();
  if (!version) throw new Error("nginx is required for the upstream: apt-get install -y nginx");
  const www = writeBodies(context.dir);
  // Workers drop to an unprivileged user when started as root; they must reach the bodies (traverse, not list).
  chmodSync(context.dir, 0o711);
  const [httpPort, httpsPort] = [freePort(), freePort()];
  const full = { ...context, upstreamPort: httpPort };
  const conf = `${preamble(context.dir, "upstream", 1)}  sendfile on;
  tcp_nopush on;
  etag off;
  open_file_cache max=16 inactive=1h;
  open_file_cache_valid 1h;
  default_type application/octet-stream;
  server {
${listenBlock(httpPort, httpsPort, full)}
    root ${www};
  }
}
`;
  const managed = await startNginx(full, "upstream", conf, [httpPort, httpsPort]);
  const target: RunningTarget = {
    name: "direct",
    endpoints: { http: { port: httpPort, host: HTTP_HOST }, https: { port: httpsPort, host: HTTPS_HOST } },
    rssRoot: null,
    version: `nginx ${version}, 1 worker`,
    stop: async () => {},
  };
  return { httpPort, target, stop: () => stopManaged(managed) };
}

export async function startNginxProxy(context: BenchContext): Promise<RunningTarget> {
  const version = await nginxVersion();
  if (!version) throw new SkipTarget("nginx is not installed (apt-get install -y nginx)");
  const [httpPort, httpsPort] = [freePort(), freePort()];
  const workers = context.options.workers;
  const conf = `${preamble(context.dir, "nginx-proxy", workers)}  upstream bench_upstream {
    server 127.0.0.1:${context.upstreamPort};
    keepalive 64;
    keepalive_requests ${KEEPALIVE_REQUESTS};
  }
  server {
${listenBlock(httpPort, httpsPort, context)}
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      # 1 MiB bodies stream through memory buffers; spilling them to a temp file would measure the disk.
      proxy_max_temp_file_size 0;
    }
  }
}
`;
  const managed = await startNginx(context, "nginx-proxy", conf, [httpPort, httpsPort]);
  return {
    name: "nginx",
    endpoints: { http: { port: httpPort, host: HTTP_HOST }, https: { port: httpsPort, host: HTTPS_HOST } },
    rssRoot: managed.pid,
    version: `nginx ${version}, worker_processes ${workers}`,
    stop: () => stopManaged(managed),
  };
}
