/**
 * A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`: Chromium reads commands from its fd 3
 * and writes replies and events to its fd 4, each message JSON followed by a NUL byte. A pipe rather than a port,
 * because the browser may run in another network namespace than the bench (network.ts), where a debugging port
 * would not be reachable, and its traffic would cross the link being measured.
 */
import { writeSync } from "node:fs";

type Json = Record<string, unknown>;

interface Pending {
  resolve(result: Json): void;
  reject(error: Error): void;
}

export type EventHandler = (params: Json, sessionId: string | undefined) => void;

export class CdpPipe {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private closed: Error | null = null;

  /** `input` is the fd Chromium reads (its fd 3), `output` the stream of what it writes (its fd 4). */
  constructor(
    private readonly input: number,
    output: ReadableStream<Uint8Array>,
  ) {
    void this.readLoop(output);
  }

  /** Sends a command (to a page's session when `sessionId` is given) and resolves with its result. */
  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    const message = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
    return new Promise<Json>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        writeSync(this.input, `${message}\0`);
      } catch (error) {
        this.pending.delete(id);
        reject(new Error(`CDP ${method}: could not write to the browser: ${(error as Error).message}`));
      }
    });
  }

  /** Calls `handler` for every `method` event until the returned function is called. */
  on(method: string, handler: EventHandler): () => void {
    const set = this.handlers.get(method) ?? new Set<EventHandler>();
    set.add(handler);
    this.handlers.set(method, set);
    return () => set.delete(handler);
  }

  private async readLoop(output: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      for await (const chunk of output) {
        buffered += decoder.decode(chunk, { stream: true });
        let end = buffered.indexOf("\0");
        while (end !== -1) {
          this.dispatch(buffered.slice(0, end));
          buffered = buffered.slice(end + 1);
          end = buffered.indexOf("\0");
        }
      }
      this.fail(new Error("the browser closed its DevTools pipe"));
    } catch (error) {
      this.fail(new Error(`reading the browser's DevTools pipe failed: ${(error as Error).message}`));
    }
  }

  private dispatch(text: string): void {
    const message = JSON.parse(text) as {
      id?: number;
      result?: Json;
      error?: { message: string };
      method?: string;
      params?: Json;
      sessionId?: string;
    };
    if (message.id !== undefined) {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) pending?.reject(new Error(`CDP: ${message.error.message}`));
      else pending?.resolve(message.result ?? {});
      return;
    }
    if (!message.method) return;
    for (const handler of this.handlers.get(message.method) ?? []) handler(message.params ?? {}, message.sessionId);
  }

  private fail(error: Error): void {
    this.closed = error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
