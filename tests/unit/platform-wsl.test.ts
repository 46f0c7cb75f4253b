/**
 * platform/wsl.ts: which route names a browser on Windows reaches from WSL, read from the Windows hosts file, and the
 * exact PowerShell line doctor offers for the rest (gotunnel never writes that file itself).
 */
import { describe, expect, test } from "bun:test";
import { loopbackNames, WSL_HOSTS_MARKER, windowsReach } from "../../src/platform/wsl.ts";

const HOSTS =
  "# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n127.0.0.1 Api.Local # gotunnel-wsl\r\n10.0.0.5 db.test\r\n";
const ADD = `Add-Content -Encoding ascii -Path "$env:SystemRoot\\System32\\drivers\\etc\\hosts" -Value`;

describe("names a Windows browser reaches from WSL", () => {
  test("loopback entries of a CRLF hosts file, case-insensitive; comments and other addresses ignored", () => {
    expect([...loopbackNames(HOSTS)]).toEqual(["api.local"]);
  });

  test(".localhost needs nothing, nor a name already there; the rest get one marked line", () => {
    const reach = windowsReach(["app.localhost", "api.local", "web.local", "db.test", "*.w.local"], HOSTS);
    expect(reach.missing).toEqual(["web.local", "db.test"]);
    expect(reach.command).toBe(`${ADD} "127.0.0.1 web.local db.test ${WSL_HOSTS_MARKER}"`);
  });

  test("a file without a final line break gets one first, so the entry is a line of its own", () => {
    expect(windowsReach(["web.local"], "127.0.0.1 localhost").command).toBe(
      `${ADD} "\`r\`n127.0.0.1 web.local ${WSL_HOSTS_MARKER}"`,
    );
  });

  test("nothing to add: no command; an unreadable file counts as empty", () => {
    expect(windowsReach(["a.localhost", "api.local"], HOSTS)).toEqual({ missing: [], command: undefined });
    expect(windowsReach(["api.local"], undefined).missing).toEqual(["api.local"]);
  });
});
