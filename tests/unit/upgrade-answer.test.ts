/** proxy/upgrade-answer.ts parseAnswer: what an upstream wrote back to a WebSocket upgrade it did not accept. */
import { describe, expect, test } from "bun:test";
import { parseAnswer } from "../../src/proxy/upgrade-answer.ts";

const text = (answer: ReturnType<typeof parseAnswer>) =>
  answer?.kind === "answer" ? { status: answer.status, body: Buffer.from(answer.body).toString() } : answer;

describe("parseAnswer", () => {
  test("a status line, a length and a body; more is awaited until the body is whole", () => {
    const whole = Buffer.from("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nBlocked");
    expect(text(parseAnswer(whole, false))).toEqual({ status: 403, body: "Blocked" });
    expect(parseAnswer(whole.subarray(0, whole.length - 2), false)).toBeUndefined();
    expect(parseAnswer(whole, false)).toMatchObject({ contentType: "text/plain" });
  });

  test("a chunked body is decoded; a body ended by the close is taken whole", () => {
    const chunked = Buffer.from(
      "HTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    expect(text(parseAnswer(chunked, false))).toEqual({ status: 401, body: "abcde" });
    const closed = Buffer.from("HTTP/1.0 400 Bad\r\n\r\nuntil close");
    expect(parseAnswer(closed, false)).toBeUndefined();
    expect(text(parseAnswer(closed, true))).toEqual({ status: 400, body: "until close" });
  });

  test("no status line (Next.js writes a bare 'Unauthorized') is status 0 once the upstream closed", () => {
    expect(parseAnswer(Buffer.from("Unauthorized"), false)).toBeUndefined();
    expect(text(parseAnswer(Buffer.from("Unauthorized"), true))).toEqual({ status: 0, body: "Unauthorized" });
    expect(parseAnswer(Buffer.from("HTT"), false)).toBeUndefined();
  });

  test("101 is an accepted upgrade; a malformed or unfinished head is no answer", () => {
    expect(parseAnswer(Buffer.from("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), false)).toEqual({
      kind: "accepted",
    });
    expect(parseAnswer(Buffer.from("HTTP/1.1 abc\r\n\r\n"), false)?.kind).toBe("none");
    expect(parseAnswer(Buffer.from("HTTP/1.1 403 Forbidden\r\nContent-"), true)?.kind).toBe("none");
  });
});
