/** requestFraming: one body length from Content-Length / Transfer-Encoding as Bun.serve hands them over (RFC 9112 §6). */
import { describe, expect, test } from "bun:test";
import { requestFraming } from "../../src/proxy/framing.ts";

describe("requestFraming", () => {
  test.each([
    ["no framing fields", null, null, { kind: "none" }],
    ["one length", "5", null, { kind: "length", length: 5 }],
    ["zero", "0", null, { kind: "length", length: 0 }],
    // Bun joins repeated lines into one list (Bun 1.4.5); RFC 9110 §8.6 lets identical values count as one.
    ["two identical lines, as Bun joins them", "5, 5", null, { kind: "length", length: 5 }],
    ["spaces and tabs around the elements", " 5 ,\t5 ", null, { kind: "length", length: 5 }],
    ["leading zeros", "007", null, { kind: "length", length: 7 }],
    ["the largest safe length", "9007199254740991", null, { kind: "length", length: Number.MAX_SAFE_INTEGER }],
    ["chunked", null, "chunked", { kind: "chunked" }],
    ["chunked in any case", null, " Chunked ", { kind: "chunked" }],
  ])("%s", (_name, contentLength, transferEncoding, expected) => {
    expect(requestFraming(contentLength, transferEncoding)).toEqual(expected as ReturnType<typeof requestFraming>);
  });

  test.each([
    ["conflicting values", "5, 6", null, "conflicting values"],
    ["an empty value", "", null, "is not a number"],
    ["an empty element", "5,,5", null, "is not a number"],
    ["a trailing comma", "5,", null, "is not a number"],
    ["a sign", "+5", null, "is not a number"],
    ["a negative length", "-1", null, "is not a number"],
    ["a fraction", "5.0", null, "is not a number"],
    ["hex", "0x5", null, "is not a number"],
    ["NaN", "NaN", null, "is not a number"],
    ["beyond 2^53 - 1", "9007199254740992", null, "too large"],
    ["both framings", "5", "chunked", "both Content-Length and Transfer-Encoding"],
    ["a coding other than chunked", null, "gzip, chunked", "is not supported"],
    ["chunked twice", null, "chunked, chunked", "is not supported"],
    ["identity", null, "identity", "is not supported"],
  ])("invalid: %s", (_name, contentLength, transferEncoding, reason) => {
    const framing = requestFraming(contentLength, transferEncoding);
    expect(framing.kind).toBe("invalid");
    expect(framing.kind === "invalid" && framing.reason).toContain(reason);
  });
});
