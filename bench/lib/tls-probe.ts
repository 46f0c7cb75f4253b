/**
 * What a target actually negotiates with an OpenSSL client like wrk's: protocol, cipher and key exchange.
 * Printed in the report because a TLS 1.2 vs 1.3 or AES-128 vs AES-256 mismatch would skew every HTTPS cell.
 */
import { run } from "./proc.ts";

const PROBE_TIMEOUT_MS = 10_000;

export async function probeTls(port: number, serverName: string): Promise<string> {
  if (!Bun.which("openssl")) return "unknown (openssl missing)";
  const cmd = ["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", serverName];
  const { stdout } = await run(cmd, PROBE_TIMEOUT_MS);
  const session = /^New, (\S+), Cipher is (\S+)/m.exec(stdout);
  if (!session || session[1] === "(NONE),") return "handshake failed";
  const kex = /^Server Temp Key: ([^,\n]+)/m.exec(stdout)?.[1];
  return `${session[1]?.replace(/,$/, "")} ${session[2]}${kex ? ` ${kex}` : ""}`;
}
