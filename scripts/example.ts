/**
 * `npm run example` (= `node scripts/bun.mjs run scripts/example.ts`): builds gotunnel, starts the bundled example dev
 * server (examples/hello, port 3000) and serves it at https://hello.localhost:8443 through the compiled binary.
 * `--check` verifies the page with curl against gotunnel's CA and exits (used by the tests); `--outfile <path>`
 * builds the binary there instead of dist/ (the tests build into a temp dir, never over the user's dist/gotunnel).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    check: { type: "boolean", default: false },
    outfile: {
      type: "string",
      default: join(root, "dist", process.platform === "win32" ? "gotunnel.exe" : "gotunnel"),
    },
  },
});
const binary = values.outfile;
const exampleDir = join(root, "examples", "hello");
const check = values.check;
const children: Bun.Subprocess[] = [];

const build = Bun.spawnSync([process.execPath, join(root, "scripts", "build.ts"), "--outfile", binary], {
  stdout: "inherit",
  stderr: "inherit",
});
if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);

/** The example starts gotunnel's daemon only when none was running; then it also stops it on the way out. */
const daemonWasRunning =
  Bun.spawnSync([binary, "status", "--json"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;

function stopAll(code: number): never {
  for (const child of children) child.kill("SIGTERM");
  if (!daemonWasRunning) Bun.spawnSync([binary, "daemon", "stop"], { stdout: "ignore", stderr: "ignore" });
  process.exit(code);
}
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

const server = Bun.spawn([process.execPath, join(exampleDir, "server.ts")], { stdout: "inherit", stderr: "inherit" });
children.push(server);

const gotunnel = Bun.spawn([binary, "up", "--json"], { cwd: exampleDir, stdout: "pipe", stderr: "inherit" });
children.push(gotunnel);
const lines = (async function* () {
  let buffered = "";
  for await (const chunk of gotunnel.stdout) {
    buffered += new TextDecoder().decode(chunk);
    let newline = buffered.indexOf("\n");
    while (newline !== -1) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
    }
  }
})();

const first = await lines.next();
if (first.done) {
  console.error("gotunnel exited before it was ready (see the error above)");
  stopAll((await gotunnel.exited) || 1);
}
const ready = JSON.parse(first.value) as { routes: { url: string }[]; ca: { path: string } };
const url = ready.routes[0]!.url;
console.log(`\ngotunnel is serving the example at ${url}`);
console.log(`  try:  curl --cacert "$(${binary} ca)" ${url}/api`);
console.log(`  in a browser, trust the CA first (${ready.ca.path})\n`);

// The example server may still be starting: give the self-check a few tries.
let body = "";
for (let attempt = 0; attempt < 20 && !body.includes('"ok":true'); attempt++) {
  const curl = Bun.spawnSync(["curl", "-sS", "--max-time", "5", "--cacert", ready.ca.path, `${url}/api`]);
  body = curl.stdout.toString();
  if (!body.includes('"ok":true')) await Bun.sleep(250);
}
console.log(body.includes('"ok":true') ? `self-check: ${url}/api → ${body}` : `self-check FAILED: ${body}`);
if (check) stopAll(body.includes('"ok":true') ? 0 : 1);

for await (const line of lines) {
  const event = JSON.parse(line) as { method: string; host: string; path: string; status: number; durationMs: number };
  console.log(`  ${event.method.padEnd(6)} ${event.host}${event.path}  ${event.status}  ${event.durationMs}ms`);
}
stopAll(await gotunnel.exited);
