/**
 * A bounded queue between a push-based runtime API (Node, Bun) and the core's pull-based `accept()`/`receive()`.
 *
 * @module
 */

/**
 * Stops and restarts what feeds a {@link PullQueue}: a listener that stops taking connections from the OS while the
 * server takes none (they wait in the kernel's backlog), as a pull-based `accept()` does.
 */
export interface QueueFlow {
  /** An item is held and nobody is taking: stop feeding the queue. Called once per pause. */
  pause(): void;
  /** Somebody waits for an item and none is held: feed the queue again. Called once per pause, after it. */
  resume(): void;
}

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
  #flow: QueueFlow | undefined;
  #paused = false;

  /**
   * @param limit most items held; a push beyond it discards the new item (for a listener that cannot pause: the
   *   listen backlog, so that the process holds no more than the kernel would)
   * @param discard called for an item that is refused or left over at close (close a socket, say)
   * @param flow paused as soon as an item is held with nobody taking, resumed when somebody waits and none is held
   */
  constructor(limit: number, discard: (item: T) => void = () => {}, flow?: QueueFlow) {
    this.#limit = limit;
    this.#discard = discard;
    this.#flow = flow;
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
    if (this.#flow !== undefined && !this.#paused) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  #resumeIfWanted(): void {
    if (this.#paused && !this.#closed && this.#head >= this.#items.length) {
      this.#paused = false;
      this.#flow!.resume();
    }
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
    if (sink !== null && this.#sink === sink) this.#resumeIfWanted();
    return true;
  }

  /** The next item, or `null` once closed. */
  take(): Promise<T | null> {
    if (this.#head < this.#items.length) return Promise.resolve(this.#shift());
    if (this.#closed) return Promise.resolve(null);
    const taking = new Promise<T | null>((resolve) => (this.#taker = resolve));
    this.#resumeIfWanted();
    return taking;
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
