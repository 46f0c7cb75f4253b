/**
 * The three service definitions, checked by real parsers: systemd's own `systemd-analyze verify` for the user unit,
 * Python's plistlib plus a walk of the plist DTD's content model for the LaunchAgent (plutil is macOS-only), and an
 * XML parser plus the Task Scheduler schema's rules (element names and places, durations, booleans) for the task.
 * The rendered text is what `gotunnel service install` writes (platform/service/*.ts render).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderPlist } from "../../src/platform/service/launchd.ts";
import { renderUnit } from "../../src/platform/service/systemd.ts";
import { renderTaskXml, utf16le } from "../../src/platform/service/task-scheduler.ts";
import type { ServiceSpec } from "../../src/platform/service/types.ts";
import { run } from "../helpers/e2e.ts";
import { requireTools } from "../helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "gotunnel-service-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A spec with the awkward cases: a space in a path, a `%` and a `$` in values, XML specials. */
const SPEC: ServiceSpec = {
  program: process.execPath,
  args: ["daemon", "--proxy-https-port=443", "--proxy-http-port=80"],
  env: { GOTUNNEL_HOME: join(dir, "gt home"), GOTUNNEL_HOSTS_FILE: join(dir, "100%$hosts<&>") },
  workingDir: join(dir, "state dir"),
};

const systemd = requireTools("systemd-analyze");
describe.skipIf(systemd.skip)(systemd.title("systemd user unit"), () => {
  const verify = async (text: string) => {
    const file = join(dir, "gotunnel.service");
    writeFileSync(file, text);
    // --user: checked as the user manager would load it; XDG_RUNTIME_DIR only has to exist.
    return run(["systemd-analyze", "--user", "verify", file], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", XDG_RUNTIME_DIR: dir, HOME: dir },
    });
  };

  test("systemd-analyze verify accepts the unit with no warning", async () => {
    const result = await verify(renderUnit(SPEC, [join(dir, "a"), join(dir, "b")]));
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("the same check rejects a unit whose program does not exist (so it can fail)", async () => {
    const result = await verify(renderUnit({ ...SPEC, program: join(dir, "no such gotunnel") }));
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("no such gotunnel");
  });
});

const python = requireTools("python3");

/** Runs a Python script with `input` on stdin; returns what it printed as JSON. */
async function python3(script: string, input: Uint8Array): Promise<unknown> {
  const file = join(dir, `check-${crypto.randomUUID()}.py`);
  const data = join(dir, `input-${crypto.randomUUID()}`);
  writeFileSync(file, script);
  writeFileSync(data, input);
  const result = await run(["python3", file, data], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  if (result.exitCode !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/**
 * plist(5)'s DTD content model, walked over the parsed tree: plist holds one value; a dict alternates key and value;
 * key, string, integer, real and date hold text only; true and false are empty. Then plistlib reads it as macOS would.
 */
const PLIST_CHECK = `
import json, plistlib, sys
import xml.etree.ElementTree as ET
raw = open(sys.argv[1], "rb").read()
root = ET.fromstring(raw)
VALUES = {"array", "data", "date", "dict", "real", "integer", "string", "true", "false"}
problems = []
def value(node, where):
    if node.tag not in VALUES:
        problems.append(f"{where}: <{node.tag}> is not a plist value")
    elif node.tag == "dict":
        kids = list(node)
        if len(kids) % 2:
            problems.append(f"{where}: dict with an odd number of children")
        for i in range(0, len(kids) - 1, 2):
            if kids[i].tag != "key":
                problems.append(f"{where}: <{kids[i].tag}> where a <key> must be")
            else:
                value(kids[i + 1], f"{where}.{kids[i].text}")
    elif node.tag == "array":
        for i, kid in enumerate(node):
            value(kid, f"{where}[{i}]")
    elif node.tag in ("true", "false"):
        if len(node) or (node.text or "").strip():
            problems.append(f"{where}: <{node.tag}/> must be empty")
    elif len(node):
        problems.append(f"{where}: <{node.tag}> may hold text only")
if root.tag != "plist" or root.get("version") != "1.0" or len(root) != 1:
    problems.append("root must be <plist version=1.0> with one value")
else:
    value(root[0], "plist")
doctype = b'<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">'
if doctype not in raw:
    problems.append("no plist DOCTYPE")
print(json.dumps({"problems": problems, "plist": plistlib.loads(raw)}))
`;

describe.skipIf(python.skip)(python.title("LaunchAgent plist"), () => {
  test("follows the plist DTD and reads back as launchd would see it", async () => {
    const logFile = "/Users/ada/Library/Logs/gotunnel/daemon.log";
    const text = renderPlist(SPEC, logFile, ["/Users/ada/Library/Logs/gotunnel", "/Users/a--b"]);
    const parsed = (await python3(PLIST_CHECK, Buffer.from(text))) as { problems: string[]; plist: unknown };
    expect(parsed.problems).toEqual([]);
    expect(parsed.plist).toEqual({
      Label: "dev.gotunnel.daemon",
      ProgramArguments: [SPEC.program, ...SPEC.args],
      WorkingDirectory: SPEC.workingDir,
      EnvironmentVariables: SPEC.env,
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      StandardOutPath: logFile,
      StandardErrorPath: logFile,
    });
  });
});

/**
 * The Task Scheduler schema (version 1.2) rules the task uses: the namespace, which elements may sit where, ISO 8601
 * durations, xs:boolean values, and the Exec action. Prints the values schtasks would read.
 */
const TASK_CHECK = `
import json, re, sys
import xml.etree.ElementTree as ET
raw = open(sys.argv[1], "rb").read()
NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"
root = ET.fromstring(raw)
problems = []
if not raw.startswith(b"\\xff\\xfe"): problems.append("no UTF-16LE byte-order mark")
if root.tag != NS + "Task" or root.get("version") != "1.2": problems.append("root must be Task version 1.2 in the task namespace")
ALLOWED = {
  "Task": {"RegistrationInfo", "Triggers", "Settings", "Data", "Principals", "Actions"},
  "RegistrationInfo": {"URI", "SecurityDescriptor", "Source", "Date", "Author", "Version", "Description", "Documentation"},
  "Triggers": {"BootTrigger", "RegistrationTrigger", "IdleTrigger", "TimeTrigger", "EventTrigger", "LogonTrigger", "SessionStateChangeTrigger", "CalendarTrigger"},
  "LogonTrigger": {"Enabled", "StartBoundary", "EndBoundary", "Repetition", "ExecutionTimeLimit", "Delay", "UserId"},
  "Principals": {"Principal"},
  "Principal": {"UserId", "GroupId", "LogonType", "RunLevel", "DisplayName", "ProcessTokenSidType", "RequiredPrivileges"},
  "Settings": {"AllowStartOnDemand", "RestartOnFailure", "MultipleInstancesPolicy", "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries", "AllowHardTerminate", "StartWhenAvailable", "NetworkProfileName", "RunOnlyIfNetworkAvailable", "WakeToRun", "Enabled", "Hidden", "DeleteExpiredTaskAfter", "IdleSettings", "NetworkSettings", "ExecutionTimeLimit", "Priority", "RunOnlyIfIdle", "UseUnifiedSchedulingEngine", "DisallowStartOnRemoteAppSession"},
  "RestartOnFailure": {"Interval", "Count"},
  "Actions": {"Exec", "ComHandler", "SendEmail", "ShowMessage"},
  "Exec": {"Command", "Arguments", "WorkingDirectory"},
}
def walk(node):
    name = node.tag.replace(NS, "")
    if not node.tag.startswith(NS): problems.append(f"<{node.tag}> outside the task namespace")
    allowed = ALLOWED.get(name)
    for kid in node:
        kname = kid.tag.replace(NS, "")
        if allowed is None: problems.append(f"<{name}> may not have children (<{kname}>)")
        elif kname not in allowed: problems.append(f"<{kname}> may not appear in <{name}>")
        walk(kid)
walk(root)
DURATION = re.compile(r"^P(?!$)(\\d+Y)?(\\d+M)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$")
for path in ["Settings/ExecutionTimeLimit", "Settings/RestartOnFailure/Interval"]:
    text = root.findtext("/".join(NS + p for p in path.split("/")))
    if not DURATION.match(text or ""): problems.append(f"{path}: {text!r} is not an xs:duration")
for node in root.iter():
    name = node.tag.replace(NS, "")
    if name in {"Enabled", "DisallowStartIfOnBatteries", "StopIfGoingOnBatteries", "StartWhenAvailable"} and node.text not in ("true", "false"):
        problems.append(f"{name}: {node.text!r} is not an xs:boolean")
find = lambda path: root.findtext("/".join(NS + p for p in path.split("/")))
print(json.dumps({"problems": problems, "command": find("Actions/Exec/Command"), "arguments": find("Actions/Exec/Arguments"),
  "workingDirectory": find("Actions/Exec/WorkingDirectory"), "logonType": find("Principals/Principal/LogonType"),
  "runLevel": find("Principals/Principal/RunLevel"), "trigger": find("Triggers/LogonTrigger/UserId"),
  "limit": find("Settings/ExecutionTimeLimit"), "count": find("Settings/RestartOnFailure/Count")}))
`;

describe.skipIf(python.skip)(python.title("Task Scheduler task XML"), () => {
  test("follows the task schema's structure and reads back with the daemon's command line", async () => {
    const spec = { ...SPEC, program: "C:\\Program Files\\gotunnel\\gotunnel.exe", workingDir: "C:\\Users\\ada\\state" };
    const bytes = utf16le(renderTaskXml(spec, "LAPTOP\\ada", "C:\\Users\\ada\\state\\daemon.log"));
    const parsed = (await python3(TASK_CHECK, bytes)) as Record<string, unknown>;
    expect(parsed).toEqual({
      problems: [],
      command: spec.program,
      arguments: "daemon --proxy-https-port=443 --proxy-http-port=80 --log-file=C:\\Users\\ada\\state\\daemon.log",
      workingDirectory: spec.workingDir,
      logonType: "InteractiveToken",
      runLevel: "LeastPrivilege",
      trigger: "LAPTOP\\ada",
      limit: "PT0S",
      count: "999",
    });
  });

  test("the same check finds a misplaced element (so it can fail)", async () => {
    const text = renderTaskXml(SPEC, "ada", "log").replace(
      "<Enabled>true</Enabled>\r\n  </Settings>",
      "</Settings><Enabled>true</Enabled>",
    );
    const parsed = (await python3(TASK_CHECK, utf16le(text))) as { problems: string[] };
    expect(parsed.problems).toEqual(["<Enabled> may not appear in <Task>"]);
  });
});
