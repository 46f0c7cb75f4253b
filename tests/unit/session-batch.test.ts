import { describe, expect, test } from "bun:test";
import { LineBatcher, SESSION_FLUSH_MS, SESSION_MAX_QUEUED_CHUNKS } from "../../src/daemon/control/batch.ts";

/** A stream whose reader we control: nothing is read until the test reads. */
function stream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return { batcher: new LineBatcher(controller), controller, reader: readable.getReader() };
}

const decoder = new TextDecoder();

describe("an up session's request lines", () => {
  test("lines pushed within one flush interval arrive as one NDJSON chunk, in order", async () => {
    const { batcher, reader } = stream();
    for (let i = 0; i < 3; i++) batcher.push({ event: "request", n: i });
    await Bun.sleep(SESSION_FLUSH_MS * 2);
    const { value } = await reader.read();
    expect(decoder.decode(value)).toBe(
      '{"event":"request","n":0}\n{"event":"request","n":1}\n{"event":"request","n":2}\n',
    );
  });

  test("a client that stops reading gets a bounded queue, then a dropped line with the exact count", () => {
    const { batcher, controller, reader } = stream();
    // Fill the queue past the bound, one flushed chunk at a time, without reading.
    for (let i = 0; i <= SESSION_MAX_QUEUED_CHUNKS + 1; i++) {
      batcher.push({ n: i });
      batcher.flush();
    }
    expect(controller.desiredSize).toBeLessThan(-SESSION_MAX_QUEUED_CHUNKS);
    for (let i = 0; i < 5; i++) batcher.push({ late: i });
    batcher.flush();
    batcher.close();
    return (async () => {
      let last = "";
      for (;;) {
        const { value, done } = await Promise.race([
          reader.read(),
          Bun.sleep(50).then(() => ({ value: undefined, done: true })),
        ]);
        if (done || !value) break;
        last = decoder.decode(value);
      }
      expect(last).toBe('{"event":"dropped","count":5}\n');
    })();
  });
});
