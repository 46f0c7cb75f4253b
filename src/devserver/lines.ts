/**
 * A child's output, cut into whole lines: gotunnel prints each line with one write, so lines of two dev servers
 * (and gotunnel's own) never mix within a line. The last few lines are kept for the report when a command exits.
 */

/** A line longer than this is printed in pieces of this size, so one endless line cannot grow memory. */
export const MAX_LINE_CHARS = 16 * 1024;
/** Lines kept for "last lines" in an exit or timeout report. */
export const TAIL_LINES = 20;

export class LineSplitter {
  private partial = "";
  private readonly decoder = new TextDecoder();
  private readonly tail: string[] = [];

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Uint8Array): void {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const part of parts) this.emit(part);
    while (this.partial.length > MAX_LINE_CHARS) {
      this.emit(this.partial.slice(0, MAX_LINE_CHARS));
      this.partial = this.partial.slice(MAX_LINE_CHARS);
    }
  }

  /** The stream ended: a last line without a newline is still a line. */
  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    if (rest !== "") this.emit(rest);
  }

  lastLines(): string[] {
    return [...this.tail];
  }

  private emit(raw: string): void {
    // A carriage return redraws a terminal line (progress bars): the text after the last one is what was shown.
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const shown = line.slice(line.lastIndexOf("\r") + 1);
    this.tail.push(shown);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.onLine(shown);
  }
}

/** Reads a stream to its end through a splitter. Resolves when the stream is done (the child closed it). */
export async function pumpLines(stream: ReadableStream<Uint8Array>, splitter: LineSplitter): Promise<void> {
  for await (const chunk of stream) splitter.push(chunk);
  splitter.end();
}
