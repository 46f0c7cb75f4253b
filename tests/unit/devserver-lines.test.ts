/** Dev server output cut into whole lines (devserver/lines.ts) and the guard's line protocol (platform/process-guard.ts). */
import { describe, expect, test } from "bun:test";
import { LineSplitter, MAX_LINE_CHARS, TAIL_LINES } from "../../src/devserver/lines.ts";
import { applyGuardLine, encodeGuardMessage } from "../../src/platform/process-guard.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function split(chunks: (string | Uint8Array)[]) {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.push(typeof chunk === "string" ? bytes(chunk) : chunk);
  splitter.end();
  return { lines, tail: splitter.lastLines() };
}

describe("LineSplitter", () => {
  test("a line split across chunks comes out once, whole", () => {
    expect(split(["VITE v8 re", "ady in 300 ms\n  ➜  Local:", " http://localhost:5173/\n"]).lines).toEqual([
      "VITE v8 ready in 300 ms",
      "  ➜  Local: http://localhost:5173/",
    ]);
  });

  test("a multi-byte character split across chunks is decoded whole", () => {
    const arrow = bytes("➜ ok\n");
    expect(split([arrow.slice(0, 1), arrow.slice(1)]).lines).toEqual(["➜ ok"]);
  });

  test("a last line without a newline is still printed at the end", () => {
    expect(split(["done\nno newline"]).lines).toEqual(["done", "no newline"]);
  });

  test("CRLF and progress redraws (\\r) keep what the terminal would show", () => {
    expect(split(["a\r\nbuilding 10%\rbuilding 100%\n"]).lines).toEqual(["a", "building 100%"]);
  });

  test("an endless line is cut into bounded pieces", () => {
    const { lines } = split(["x".repeat(MAX_LINE_CHARS * 2 + 5)]);
    expect(lines.map((line) => line.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS, 5]);
  });

  test("the tail keeps the last lines only", () => {
    const many = Array.from({ length: TAIL_LINES + 5 }, (_, i) => `line ${i}`);
    const { tail } = split([`${many.join("\n")}\n`]);
    expect(tail).toEqual(many.slice(5));
  });
});

describe("guard protocol", () => {
  test("add, remove and quit round-trip through their encoding; a group keeps the signal it stops on", () => {
    const groups = new Map<number, NodeJS.Signals>();
    const messages = [{ add: 4242 }, { add: 4343 }, { remove: 4242 }, { add: 4444, signal: "SIGINT" }] as const;
    for (const message of messages) {
      expect(applyGuardLine(groups, encodeGuardMessage(message).trim())).toBe(false);
    }
    expect([...groups]).toEqual([
      [4343, "SIGTERM"],
      [4444, "SIGINT"],
    ]);
    expect(encodeGuardMessage({ add: 4545, signal: "SIGTERM" })).toBe("+4545\n");
    expect(applyGuardLine(groups, encodeGuardMessage("quit").trim())).toBe(true);
  });

  test("never a group id of 0 or 1 (kill(-1) is every process; 0 is the guard's own group), nor an unknown signal", () => {
    const groups = new Map<number, NodeJS.Signals>();
    for (const line of ["+0", "+1", "+-5", "garbage", "+12x", "+77 SIGNOPE", "+78 INT", "+79 SIGINT x"]) {
      applyGuardLine(groups, line);
    }
    expect([...groups]).toEqual([]);
  });
});
