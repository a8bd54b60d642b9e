/**
 * Deadlines that all last the same time, on one timer. A timer of its own for each connection's deadline (a PROXY
 * protocol header's, say) costs a setTimeout and a clearTimeout per connection, and most deadlines are met: here each
 * costs an entry in a queue. Since every deadline lasts the same, they expire in the order they were set.
 *
 * @module
 */

/** One deadline of a {@link DeadlineQueue}. */
export interface Deadline {
  /** Whether it passed (and the queue's `expire` was called for it). */
  readonly expired: boolean;
  /** Drops it: it will not expire. Safe to call more than once, and after it expired. */
  cancel(): void;
}

class Entry<T> implements Deadline {
  item: T | null;
  readonly at: number;
  readonly queue: DeadlineQueue<T>;
  expired = false;

  constructor(item: T, at: number, queue: DeadlineQueue<T>) {
    this.item = item;
    this.at = at;
    this.queue = queue;
  }

  cancel(): void {
    if (this.item === null) return;
    this.item = null;
    this.queue.dropped();
  }
}

/** A timer that does not keep the process alive, where timers can say so (Node's and Bun's; Deno's are numbers). */
function unreferenced(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** Deadlines of `duration` milliseconds each; `expire(item)` is called for each that passes before it is cancelled. */
export class DeadlineQueue<T> {
  readonly #duration: number;
  readonly #expire: (item: T) => void;
  #entries: Array<Entry<T>> = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Deadlines neither cancelled nor expired. */
  #live = 0;

  /**
   * @param duration milliseconds from `add()` to expiry
   * @param expire called with each item whose deadline passed
   */
  constructor(duration: number, expire: (item: T) => void) {
    this.#duration = duration;
    this.#expire = expire;
  }

  /** Sets a deadline `duration` milliseconds from now for `item`. */
  add(item: T): Deadline {
    const entry = new Entry(item, Date.now() + this.#duration, this);
    this.#entries.push(entry);
    this.#live++;
    this.#timer ??= unreferenced(setTimeout(this.#sweep, this.#duration));
    return entry;
  }

  /** Told by an entry that it was cancelled. */
  dropped(): void {
    if (this.#sweeping) {
      this.#live--;
      return;
    }
    if (--this.#live === 0) {
      // The timer stays (cleared and set again for the next deadline, it would cost what one timer per deadline
      // costs); it finds nothing and ends. Unreferenced, it keeps no process alive.
      this.#entries = [];
      this.#head = 0;
      return;
    }
    // Deadlines are mostly met in the order they were set: the cancelled ones at the front go at once.
    this.#dropFront(this.#head);
  }

  /** Makes the first live entry at or after `head` the front, letting the spent ones before it go in batches. */
  #dropFront(head: number): void {
    const entries = this.#entries;
    while (entries[head].item === null) head++;
    if (head > 1024 && head * 2 > entries.length) {
      this.#entries = entries.slice(head);
      head = 0;
    }
    this.#head = head;
  }

  #sweeping = false;

  #sweep = (): void => {
    this.#timer = undefined;
    this.#sweeping = true;
    const now = Date.now();
    const entries = this.#entries;
    let head = this.#head;
    try {
      while (head < entries.length && (entries[head].item === null || entries[head].at <= now)) {
        const entry = entries[head++];
        const item = entry.item;
        if (item === null) continue;
        entry.item = null;
        entry.expired = true;
        this.#live--;
        try {
          this.#expire(item);
        } catch (error) {
          // One failing expiry must not leave the others waiting.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    } finally {
      this.#sweeping = false;
    }
    if (this.#live === 0) {
      this.#entries = [];
      this.#head = 0;
      return;
    }
    this.#dropFront(head);
    clearTimeout(this.#timer); // one set by an add() inside an expiry
    this.#timer = unreferenced(setTimeout(this.#sweep, Math.max(1, this.#entries[this.#head].at - now)));
  };
}
