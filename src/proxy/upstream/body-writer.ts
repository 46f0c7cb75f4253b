/**
 * Streams a request body to the upstream with backpressure: one chunk is read from the caller's stream only
 * after the previous one was accepted by the socket (Bun's write returns the bytes taken; `drain` says when
 * to continue). Memory stays bounded by what was read ahead (request-body.ts) and one chunk, however large the
 * upload.
 *
 * The pump belongs to the exchange, not to a socket: if a reused socket turns out dead before the body was
 * touched, the exchange moves to a fresh socket and the pump carries on there.
 */
import type { Connection } from "./connection.ts";
import { type Exchange, PHASE_DONE } from "./exchange.ts";
import { type BodyReader, bodyLengthError, type StreamingBody } from "./request-body.ts";
import { chunkPrefix, joinPrefix, lastChunk } from "./serialize.ts";

/** Chunks up to this size are copied behind their chunk-size line so they cost one write, not two. */
const CHUNK_COALESCE_MAX_BYTES = 16 * 1024;

/** The connection the exchange is on once it can take more bytes, or null when the exchange is over. */
async function writableConnection(ex: Exchange): Promise<Connection | null> {
  for (;;) {
    if (ex.phase === PHASE_DONE) return null;
    const conn = ex.conn;
    if (conn === null) await ex.waitAttached();
    else if (conn.pendingWrite !== null && !conn.disposed) await conn.waitDrain();
    else return conn;
  }
}

function writeChunk(conn: Connection, data: Uint8Array, first: boolean): boolean {
  const prefix = chunkPrefix(data.byteLength, first);
  if (data.byteLength <= CHUNK_COALESCE_MAX_BYTES) return conn.write(joinPrefix(prefix, data));
  if (!conn.write(prefix)) {
    // Rare: the socket took only part of a few-byte prefix. Queue the data behind it.
    const pending = conn.pendingWrite;
    if (pending !== null) conn.pendingWrite = Buffer.concat([pending, data]);
    return false;
  }
  return conn.write(data);
}

/** The chunks read ahead, then the rest from the client's stream. */
function nextChunk(body: StreamingBody, index: number): ReturnType<BodyReader["read"]> {
  const ahead = body.chunks[index];
  return ahead === undefined ? body.reader.read() : Promise.resolve({ done: false, value: ahead });
}

export async function pumpRequestBody(ex: Exchange, body: StreamingBody): Promise<void> {
  ex.pumping = true;
  const expected = ex.req.contentLength;
  let sent = 0;
  try {
    for (let index = 0; ; index++) {
      const result = await nextChunk(body, index);
      const conn = await writableConnection(ex);
      if (conn === null) return;
      if (result.done) {
        await finishBody(ex, conn, expected, sent);
        return;
      }
      const data = result.value;
      if (data.byteLength === 0) continue;
      if (expected !== undefined && sent + data.byteLength > expected) throw bodyLengthError("longer than declared");
      ex.bodyPulled = true;
      const accepted = expected === undefined ? writeChunk(conn, data, sent === 0) : conn.write(data);
      sent += data.byteLength;
      if (!accepted) await conn.waitDrain();
    }
  } catch (err) {
    // The caller's stream failed (client aborted the upload, or sent nothing for too long) or the length lied: the
    // exchange cannot finish.
    const conn = ex.conn;
    conn?.destroy();
    ex.fail(err);
  } finally {
    ex.pumping = false;
    // The stream is sent (or abandoned): its socket no longer waits on the client.
    ex.releaseUploadSlot();
  }
}

async function finishBody(ex: Exchange, conn: Connection, expected: number | undefined, sent: number) {
  if (expected === undefined) {
    if (!conn.write(lastChunk(sent > 0))) await conn.waitDrain();
  } else if (sent !== expected) {
    throw bodyLengthError(`ended after ${sent} of ${expected} bytes`);
  }
  // Only a body the socket fully accepted lets the socket be reused afterwards.
  if (ex.conn === conn && !conn.disposed && conn.pendingWrite === null) ex.bodySent = true;
}
