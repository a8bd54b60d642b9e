/**
 * A bounded queue between a push-based runtime API (Node, Bun) and the core's pull-based `accept()`/`receive()`.
 *
 * @module
 */

/**
 * Connections a runtime accepted that the server has not taken yet. Beyond it, new connections are closed, as a full
 * kernel backlog would refuse them; a server at its concurrency cap is the usual reason for a long queue.
 */
export const ACCEPT_QUEUE_LIMIT = 4096;

/** Datagrams received and not yet taken. Beyond it, datagrams are dropped, as a full kernel buffer drops them. */
export const DATAGRAM_QUEUE_LIMIT = 4096;

/**
 * A FIFO with one pending taker: `take()` resolves with the next item, or `null` once closed. Or, while a sink is set
 * (`deliverTo`), each item goes straight to it from `push()`: no promise per item.
 */
export class PullQueue<T> {
  #items: T[] = [];
  #head = 0;
  #taker: ((item: T | null) => void) | null = null;
  #sink: ((item: T | null) => void) | null = null;
  #closed = false;
  #limit: number;
  #discard: (item: T) => void;

  /**
   * @param limit most items held; a push beyond it discards the new item
   * @param discard called for an item that is refused or left over at close (close a socket, say)
   */
  constructor(limit: number, discard: (item: T) => void = () => {}) {
    this.#limit = limit;
    this.#discard = discard;
  }

  /** Adds an item, or hands it straight to a waiting taker. */
  push(item: T): void {
    if (this.#closed) return this.#discard(item);
    const taker = this.#taker;
    if (taker !== null) {
      this.#taker = null;
      taker(item);
      return;
    }
    // Items are held only while no sink is set (deliverTo hands held ones over first): order is kept.
    const sink = this.#sink;
    if (sink !== null) return sink(item);
    if (this.#items.length - this.#head >= this.#limit) return this.#discard(item);
    this.#items.push(item);
  }

  /**
   * Hands each item to `sink` from now on, held ones first (at once, in order), and `null` to it at close;
   * `deliverTo(null)` goes back to holding items for `take()`, and may be called from inside `sink` (the items not
   * handed over yet stay held). Refused (`false`, nothing changes) while a `take()` waits or once closed.
   */
  deliverTo(sink: ((item: T | null) => void) | null): boolean {
    if (sink !== null && (this.#taker !== null || this.#closed)) return false;
    this.#sink = sink;
    while (sink !== null && this.#sink === sink && this.#head < this.#items.length) sink(this.#shift());
    return true;
  }

  /** The next item, or `null` once closed. */
  take(): Promise<T | null> {
    if (this.#head < this.#items.length) return Promise.resolve(this.#shift());
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.#taker = resolve));
  }

  #shift(): T {
    const item = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Refuses further items, discards those held, and resolves a waiting taker with `null`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let i = this.#head; i < this.#items.length; i++) this.#discard(this.#items[i]);
    this.#items = [];
    this.#head = 0;
    const taker = this.#taker;
    this.#taker = null;
    taker?.(null);
    const sink = this.#sink;
    this.#sink = null;
    sink?.(null);
  }
}
