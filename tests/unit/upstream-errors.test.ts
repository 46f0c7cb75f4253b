import { describe, expect, test } from "bun:test";
import { GotunnelError } from "../../src/core/errors.ts";
import { connectError, connectTimeoutError, type UpstreamError } from "../../src/proxy/upstream/errors.ts";

/** Errors shaped like the ones Bun.connect rejects with (a `code` string). */
function systemError(code: string): Error {
  return Object.assign(new Error(`${code}: failed`), { code });
}

describe("upstream error mapping", () => {
  test.each([
    ["ECONNREFUSED", "refused"],
    ["EHOSTUNREACH", "refused"],
    ["ENOTFOUND", "dns"],
    ["EAI_AGAIN", "dns"],
    ["ETIMEDOUT", "timeout"],
    ["ECONNRESET", "reset"],
  ])("%s → %s", (code, kind) => {
    const err = connectError(systemError(code), "localhost:3000");
    expect(err.kind).toBe(kind as UpstreamError["kind"]);
    expect(err.message).toContain("localhost:3000");
    expect(err.details).toEqual({ origin: "localhost:3000", code });
  });

  test("upstream errors are GotunnelErrors with the upstream exit code and a hint", () => {
    const err = connectError(systemError("ECONNREFUSED"), "localhost:3000");
    expect(err).toBeInstanceOf(GotunnelError);
    expect(err.code).toBe("E_UPSTREAM");
    expect(err.exitCode).toBe(6);
    expect(err.hint).toContain("localhost:3000");
    expect(connectTimeoutError("localhost:3000", 5000).kind).toBe("timeout");
  });
});
