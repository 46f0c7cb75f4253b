import { describe, expect, test } from "bun:test";
import {
  BODY_CHUNKED,
  BODY_INCOMPLETE,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  BodyDecoder,
  type BodyMode,
} from "../../src/proxy/upstream/body-decoder.ts";
import { isUpstreamError } from "../../src/proxy/upstream/errors.ts";

/** Feeds `wire` in slices of `step` bytes; returns the decoded body and where the body ended in `wire`. */
function decode(mode: BodyMode, wire: string, step = wire.length, contentLength = 0) {
  const decoder = new BodyDecoder();
  decoder.reset(mode, contentLength);
  const buf = Buffer.from(wire, "latin1");
  const pieces: Uint8Array[] = [];
  const sink = { onBodyPiece: (piece: Uint8Array) => pieces.push(piece) };
  let end = BODY_INCOMPLETE;
  for (let start = 0; start < buf.length && end === BODY_INCOMPLETE; start += step) {
    const result = decoder.push(buf, start, Math.min(buf.length, start + step), sink);
    if (result !== BODY_INCOMPLETE) end = result;
  }
  return { body: Buffer.concat(pieces).toString("latin1"), end, pieces };
}

function decodeError(wire: string): string {
  try {
    decode(BODY_CHUNKED, wire);
  } catch (err) {
    if (isUpstreamError(err)) return err.kind;
    throw err;
  }
  throw new Error("decoded without error");
}

describe("BodyDecoder", () => {
  test("Content-Length: stops exactly at the declared length", () => {
    const { body, end } = decode(BODY_LENGTH, "hello, world", 5, 5);
    expect(body).toBe("hello");
    expect(end).toBe(5);
  });

  test("no body: completes immediately without consuming", () => {
    const decoder = new BodyDecoder();
    decoder.reset(BODY_NONE, 0);
    expect(decoder.push(Buffer.from("junk"), 0, 4, { onBodyPiece: () => {} })).toBe(0);
  });

  test("read-until-close: everything is body and it never completes by itself", () => {
    const { body, end } = decode(BODY_UNTIL_CLOSE, "all of it", 3);
    expect(body).toBe("all of it");
    expect(end).toBe(BODY_INCOMPLETE);
  });

  const chunked = "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\nNEXT";

  test("chunked: sizes, extensions and trailers, with the body's end reported", () => {
    const { body, end } = decode(BODY_CHUNKED, chunked);
    expect(body).toBe("hello, world");
    expect(end).toBe(chunked.indexOf("NEXT"));
  });

  test("chunked: the same result when fed one byte at a time", () => {
    const { body, end } = decode(BODY_CHUNKED, chunked, 1);
    expect(body).toBe("hello, world");
    expect(end).toBe(chunked.indexOf("NEXT"));
  });

  test("chunked: data bytes are views, not copies", () => {
    const { pieces } = decode(BODY_CHUNKED, "a\r\n0123456789\r\n0\r\n\r\n");
    expect(pieces).toHaveLength(1);
    expect(pieces[0]!.byteOffset).toBe(3);
  });

  test("chunked: upper-case hex, BWS before an extension, bare LF line endings", () => {
    const { body } = decode(BODY_CHUNKED, "A ;x\n0123456789\n0\n\n");
    expect(body).toBe("0123456789");
  });

  test("chunked: an empty body is just the last chunk", () => {
    const { body, end } = decode(BODY_CHUNKED, "0\r\n\r\n");
    expect(body).toBe("");
    expect(end).toBe(5);
  });

  test.each([
    ["a missing size", "\r\nhello\r\n0\r\n\r\n"],
    ["a non-hex size", "g\r\n"],
    ["data longer than its size", "2\r\nabc\r\n0\r\n\r\n"],
    ["a size that overflows", "1234567890abc\r\n"],
    ["a bad line ending after the size", "2\rxab"],
  ])("chunked: rejects %s", (_name, wire) => {
    expect(decodeError(wire)).toBe("protocol");
  });
});
