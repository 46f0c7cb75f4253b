/**
 * A FIFO of exchanges waiting for something (a socket, an upload slot). An aborted exchange stays in the array as a
 * tombstone and is skipped by phase when its turn comes, so aborting never searches the queue.
 */
import { type Exchange, PHASE_QUEUED } from "./exchange.ts";

/** Drop the consumed head of the array once it is this long and at least half the array. */
const QUEUE_COMPACT_MIN = 1024;

export class ExchangeQueue {
  private readonly items: (Exchange | undefined)[] = [];
  private head = 0;

  push(ex: Exchange): void {
    this.items.push(ex);
  }

  /** The oldest exchange still waiting, or undefined. */
  shift(): Exchange | undefined {
    const items = this.items;
    while (this.head < items.length) {
      const ex = items[this.head];
      items[this.head++] = undefined;
      if (this.head === items.length) {
        items.length = 0;
        this.head = 0;
      } else if (this.head >= QUEUE_COMPACT_MIN && this.head * 2 >= items.length) {
        items.splice(0, this.head);
        this.head = 0;
      }
      if (ex !== undefined && ex.phase === PHASE_QUEUED) return ex;
    }
    return undefined;
  }
}
