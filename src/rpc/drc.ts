/**
 * The UDP duplicate-request cache: a retransmitted call (same XID, client address, program, version and procedure)
 * is answered from the cache, or dropped while the first is still running, instead of being executed twice.
 *
 * It sits under the server, on its datagram socket, so it works in every mode: replies of worker threads and child
 * processes go out through that socket too.
 *
 * @module
 */
import { formatAddress } from "../address.ts";
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

interface Entry {
  readonly key: string;
  readonly at: number;
  reply: Uint8Array | null;
}

/** Counters of a {@link DuplicateRequestCache}, for tests and monitoring. */
export interface DuplicateRequestCacheStats {
  /** Retransmissions answered from the cache. */
  replayed: number;
  /** Retransmissions dropped because the first call was still running. */
  dropped: number;
}

/** A bounded cache of recent UDP calls and their replies, keyed by XID, client, program, version and procedure. */
export class DuplicateRequestCache {
  readonly #entries = new Map<string, Entry>();
  // Calls waiting for their reply, by client and XID (a reply carries no program or procedure).
  readonly #waiting = new Map<string, Entry>();
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
  }

  /**
   * Looks a call up: `"new"` (remembered now: let it run), `"drop"` (its first copy is still running) or the reply to
   * send again. Messages that are not calls are always `"new"`.
   */
  check(data: Uint8Array, from: SocketAddress | null): "new" | "drop" | Uint8Array {
    if (data.length < 24 || from === null) return "new";
    if (word(data, 4) !== 0) return "new";
    const waitingKey = `${formatAddress(from)} ${word(data, 0)}`;
    const key = `${waitingKey} ${word(data, 12)} ${word(data, 16)} ${word(data, 20)}`;
    const now = Date.now();
    const found = this.#entries.get(key);
    if (found !== undefined && now - found.at <= this.#maxAge) {
      if (found.reply === null) {
        this.stats.dropped++;
        return "drop";
      }
      this.stats.replayed++;
      return found.reply;
    }
    if (found !== undefined) this.#remove(found);
    const entry: Entry = { key, at: now, reply: null };
    this.#entries.set(key, entry);
    this.#waiting.set(waitingKey, entry);
    this.#trim(now);
    return "new";
  }

  /** Remembers the reply of a call that is waiting for one. */
  recordReply(reply: Uint8Array, to: SocketAddress): void {
    if (reply.length < 8) return;
    const waitingKey = `${formatAddress(to)} ${word(reply, 0)}`;
    const entry = this.#waiting.get(waitingKey);
    if (entry === undefined) return;
    this.#waiting.delete(waitingKey);
    if (!this.#entries.has(entry.key)) return;
    entry.reply = reply.slice();
    this.#bytes += entry.reply.length;
    // The entry counts already (check() trimmed for it): only its bytes can break a bound now.
    if (this.#bytes > this.#maxBytes) this.#trim(Date.now());
  }

  /** The calls remembered. */
  get size(): number {
    return this.#entries.size;
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.key);
    if (entry.reply !== null) this.#bytes -= entry.reply.length;
  }

  /** Drops the oldest entries beyond the bounds, and those past their age. */
  #trim(now: number): void {
    for (const entry of this.#entries.values()) {
      const expired = now - entry.at > this.#maxAge;
      if (!expired && this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#remove(entry);
    }
    if (this.#waiting.size > this.#maxEntries * 2) {
      for (const [key, entry] of this.#waiting) {
        if (this.#entries.has(entry.key)) continue;
        this.#waiting.delete(key);
      }
    }
  }
}

/** The big-endian unsigned 32-bit word at `offset`. */
function word(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
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

  async receive(): Promise<Datagram | null> {
    for (;;) {
      const datagram = await this.#socket.receive();
      if (datagram === null || this.#admit(datagram)) return datagram;
    }
  }

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
