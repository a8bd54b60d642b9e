/**
 * The UDP duplicate-request cache: a retransmitted call (same XID, client address, program, version and procedure)
 * is answered from the cache, or dropped while the first is still running, instead of being executed twice.
 *
 * It sits under the server, on its datagram socket, so it works in every mode: replies of worker threads and child
 * processes go out through that socket too.
 *
 * @module
 */
import type { Datagram, DatagramSocket, Runtime, SocketAddress } from "../transport.ts";

/** Settings of the duplicate-request cache. */
export interface DuplicateRequestCacheOptions {
  /** Most calls remembered (default 1024). */
  maxEntries?: number;
  /** Milliseconds a call is remembered (default 120,000, as Linux nfsd's RC_EXPIRE). */
  maxAge?: number;
  /** Most reply bytes held in all (default 4 MiB). */
  maxBytes?: number;
}

/** One call remembered: who sent it, what it called, and its reply once sent. Reused once evicted. */
class Entry {
  xid = 0;
  host = "";
  port = 0;
  program = 0;
  version = 0;
  procedure = 0;
  at = 0;
  /** Holds the reply's bytes (its first `replyLength`), kept from one use of the entry to the next. */
  buffer: Uint8Array | null = null;
  /** The reply's length, or -1 while the call runs. */
  replyLength = -1;
  /** The next entry in the same hash bucket. */
  next: Entry | undefined = undefined;
  /** False once evicted: the entry is then free to reuse when its ring slot comes up. */
  live = false;
}

/** Counters of a {@link DuplicateRequestCache}, for tests and monitoring. */
export interface DuplicateRequestCacheStats {
  /** Retransmissions answered from the cache. */
  replayed: number;
  /** Retransmissions dropped because the first call was still running. */
  dropped: number;
}

/** A reply buffer bigger than this is not kept for the entry's next use. */
const KEEP_BUFFER = 1024;

/**
 * A bounded cache of recent UDP calls and their replies, keyed by XID, client, program, version and procedure.
 *
 * Entries sit in a hash table of their own (by XID and client port) and in a ring in the order they came, so the
 * oldest goes first; an evicted entry and its reply buffer serve the next call. A call costs no allocation once the
 * ring is full, and no string.
 */
export class DuplicateRequestCache {
  readonly #buckets: Array<Entry | undefined>;
  readonly #shift: number;
  /** Entries oldest first, from `#head`, `#slots` of them (evicted ones included until their slot comes up). */
  readonly #ring: Array<Entry | undefined>;
  #head = 0;
  #slots = 0;
  #live = 0;
  readonly #maxEntries: number;
  readonly #maxAge: number;
  readonly #maxBytes: number;
  #bytes = 0;
  /** What the cache did. */
  readonly stats: DuplicateRequestCacheStats = { replayed: 0, dropped: 0 };

  /**
   * Makes an empty cache.
   *
   * @param options its bounds
   * @throws {RangeError} when a bound is not a positive number (`maxEntries`: a positive integer)
   */
  constructor(options: DuplicateRequestCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 1024;
    this.#maxAge = options.maxAge ?? 120_000;
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    for (
      const [name, value] of [["maxEntries", this.#maxEntries], ["maxAge", this.#maxAge], ["maxBytes", this.#maxBytes]]
    ) {
      if (typeof value !== "number" || !(value > 0)) {
        throw new RangeError(`duplicate-request cache ${name} must be positive, got ${value}`);
      }
    }
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries > 2 ** 24) {
      throw new RangeError(`duplicate-request cache maxEntries must be an integer up to 2^24, got ${this.#maxEntries}`);
    }
    this.#ring = new Array(this.#maxEntries).fill(undefined);
    // Twice as many buckets as entries, a power of two: chains stay short.
    const bits = Math.max(4, Math.ceil(Math.log2(this.#maxEntries * 2)));
    this.#buckets = new Array(2 ** bits).fill(undefined);
    this.#shift = 32 - bits;
  }

  /**
   * Looks a call up: `"new"` (remembered now: let it run), `"drop"` (its first copy is still running) or the reply to
   * send again. Messages that are not calls are always `"new"`.
   */
  check(data: Uint8Array, from: SocketAddress | null): "new" | "drop" | Uint8Array {
    if (data.length < 24 || from === null) return "new";
    if (word(data, 4) !== 0) return "new";
    const xid = word(data, 0);
    const host = typeof from === "string" ? from : from[0];
    const port = typeof from === "string" ? -1 : from[1];
    const program = word(data, 12);
    const version = word(data, 16);
    const procedure = word(data, 20);
    const now = Date.now();
    const bucket = this.#bucketOf(xid, port);
    for (let entry = this.#buckets[bucket]; entry !== undefined; entry = entry.next) {
      if (
        entry.xid !== xid || entry.port !== port || entry.host !== host || entry.program !== program ||
        entry.version !== version || entry.procedure !== procedure
      ) continue;
      if (now - entry.at > this.#maxAge) {
        this.#remove(entry);
        break;
      }
      if (entry.replyLength < 0) {
        this.stats.dropped++;
        return "drop";
      }
      this.stats.replayed++;
      return entry.buffer!.slice(0, entry.replyLength);
    }
    this.#expire(now);
    if (this.#slots === this.#ring.length) this.#evictOldest();
    const slot = (this.#head + this.#slots) % this.#ring.length;
    const entry = this.#ring[slot] ?? (this.#ring[slot] = new Entry());
    entry.xid = xid;
    entry.host = host;
    entry.port = port;
    entry.program = program;
    entry.version = version;
    entry.procedure = procedure;
    entry.at = now;
    entry.replyLength = -1;
    entry.live = true;
    entry.next = this.#buckets[bucket];
    this.#buckets[bucket] = entry;
    this.#slots++;
    this.#live++;
    return "new";
  }

  /** Remembers the reply of a call that is waiting for one. */
  recordReply(reply: Uint8Array, to: SocketAddress): void {
    if (reply.length < 8) return;
    const host = typeof to === "string" ? to : to[0];
    const port = typeof to === "string" ? -1 : to[1];
    const xid = word(reply, 0);
    for (let entry = this.#buckets[this.#bucketOf(xid, port)]; entry !== undefined; entry = entry.next) {
      if (entry.xid !== xid || entry.replyLength >= 0 || entry.port !== port || entry.host !== host) continue;
      const length = reply.length;
      if (entry.buffer === null || entry.buffer.length < length) {
        entry.buffer = new Uint8Array(Math.max(64, length));
      }
      const buffer = entry.buffer;
      for (let i = 0; i < length; i++) buffer[i] = reply[i];
      entry.replyLength = length;
      this.#bytes += length;
      while (this.#bytes > this.#maxBytes && this.#slots > 0) this.#evictOldest();
      return;
    }
  }

  /** The calls remembered. */
  get size(): number {
    return this.#live;
  }

  #bucketOf(xid: number, port: number): number {
    return Math.imul(xid ^ port, 0x9e37_79b1) >>> this.#shift;
  }

  /** Drops the entries past their age, oldest first (they are in the order they came). */
  #expire(now: number): void {
    while (this.#slots > 0) {
      const oldest = this.#ring[this.#head]!;
      if (oldest.live && now - oldest.at <= this.#maxAge) return;
      this.#evictOldest();
    }
  }

  /** Frees the oldest slot, evicting its entry if still live; the entry stays in the slot, to be reused. */
  #evictOldest(): void {
    const oldest = this.#ring[this.#head]!;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#slots--;
    if (oldest.live) this.#remove(oldest);
  }

  /** Takes an entry out of its bucket; it is reused when its ring slot comes up. */
  #remove(entry: Entry): void {
    entry.live = false;
    this.#live--;
    if (entry.replyLength >= 0) this.#bytes -= entry.replyLength;
    if (entry.buffer !== null && entry.buffer.length > KEEP_BUFFER) entry.buffer = null;
    const bucket = this.#bucketOf(entry.xid, entry.port);
    const first = this.#buckets[bucket];
    if (first === entry) this.#buckets[bucket] = entry.next;
    else {
      for (let before = first; before !== undefined; before = before.next) {
        if (before.next === entry) {
          before.next = entry.next;
          break;
        }
      }
    }
    entry.next = undefined;
  }
}

/**
 * The big-endian 32-bit word at `offset`, as a signed integer (compared and hashed, never shown): a full unsigned
 * one would be a boxed number to V8.
 */
function word(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3];
}

/** A datagram socket that answers retransmissions from a cache and records the replies sent. */
class CachingDatagramSocket implements DatagramSocket {
  readonly #socket: DatagramSocket;
  readonly #cache: DuplicateRequestCache;

  constructor(socket: DatagramSocket, cache: DuplicateRequestCache) {
    this.#socket = socket;
    this.#cache = cache;
  }

  get address(): SocketAddress {
    return this.#socket.address;
  }

  /** `true` when the datagram goes on to the server; otherwise it was answered or dropped here. */
  #admit(datagram: Datagram): boolean {
    if (datagram.oversize !== undefined) return true;
    const verdict = this.#cache.check(datagram.data, datagram.from);
    if (verdict === "new") return true;
    if (verdict !== "drop" && datagram.from !== null) void this.#socket.send(verdict, datagram.from).catch(() => {});
    return false;
  }

  receive(): Promise<Datagram | null> {
    return this.#socket.receive().then(this.#admitted);
  }

  readonly #admitted = (datagram: Datagram | null): Datagram | null | Promise<Datagram | null> =>
    datagram === null || this.#admit(datagram) ? datagram : this.receive();

  deliverTo(sink: ((datagram: Datagram | null) => void) | null): boolean {
    if (this.#socket.deliverTo === undefined) return false;
    if (sink === null) return this.#socket.deliverTo(null);
    return this.#socket.deliverTo((datagram) => {
      if (datagram === null || this.#admit(datagram)) sink(datagram);
    });
  }

  send(data: Uint8Array, to: SocketAddress): Promise<void> {
    this.#cache.recordReply(data, to);
    return this.#socket.send(data, to);
  }

  close(): Promise<void> {
    return this.#socket.close();
  }
}

/** A runtime whose UDP sockets go through `cache`. */
export function withDuplicateRequestCache(runtime: Runtime, cache: DuplicateRequestCache): Runtime {
  return {
    ...runtime,
    listenDatagram: async (options) => {
      const socket = await runtime.listenDatagram(options);
      return options.transport === "udp" ? new CachingDatagramSocket(socket, cache) : socket;
    },
  };
}
