/**
 * The internal transport interface: what the core needs from a runtime, and nothing more.
 *
 * Types only. Each adapter in `runtimes/` implements {@link Runtime} with its runtime's native socket API;
 * the servers in `src/` reach the world through nothing else. The stream side is push-based with explicit
 * backpressure (`write()` returns `false`, then `drain` fires; `pause()`/`resume()` on reads), because that is
 * what the three runtimes share and what costs least on the hot path of every byte.
 *
 * @module
 */

/** An IPv4 or IPv6 socket address, as Python writes it: `[host, port]`. */
export type InetAddress = readonly [host: string, port: number];

/** A unix socket address: a filesystem path. */
export type UnixAddress = string;

/** Any address a socket of this library can have. `null` stands for "no address" (an unbound unix client). */
export type SocketAddress = InetAddress | UnixAddress;

/** Callbacks a stream socket delivers to its consumer. Exactly one consumer attaches to a socket. */
export interface StreamSocketEvents {
  /** Bytes arrived. The chunk belongs to the consumer from now on. */
  data(chunk: Uint8Array): void;
  /** The peer closed its sending side (half-close). No `data` follows. */
  end(): void;
  /** The connection failed (reset, timeout in the OS, …). `close` follows. */
  error(error: Error): void;
  /** Every byte written so far has been handed to the OS: writing may go on. */
  drain(): void;
  /** The socket is fully closed. Called once, last. */
  close(): void;
}

/** One accepted stream connection (TCP or unix stream). */
export interface StreamSocket {
  /** The address of this end. */
  readonly localAddress: SocketAddress;
  /** The address of the peer (`""` for an unnamed unix peer). */
  readonly remoteAddress: SocketAddress;
  /** Starts delivering events to `events`. Nothing is read before this is called. */
  attach(events: StreamSocketEvents): void;
  /** Stops reading from the OS until {@link StreamSocket.resume}. */
  pause(): void;
  /** Resumes reading after {@link StreamSocket.pause}. */
  resume(): void;
  /**
   * Queues `chunk` for sending. Returns `false` when the queue is above its high-water mark: the caller should wait
   * for `drain` before writing more. The adapter never drops or reorders queued bytes.
   */
  write(chunk: Uint8Array): boolean;
  /** Sends FIN once the queued bytes are out (half-close); reading goes on. Idempotent. */
  closeWrite(): void;
  /** Closes once the queued bytes are out (or at once when the peer is gone). Idempotent. */
  close(): void;
  /** Closes at once, dropping queued bytes. Idempotent. */
  abort(): void;
  /** Sets TCP_NODELAY (no-op on unix sockets). */
  setNoDelay(enabled: boolean): void;
  /** Bytes queued in the adapter, not yet handed to the OS. */
  readonly bufferedAmount: number;
}

/** A listening stream socket. */
export interface StreamListener {
  /** The bound address (port 0 resolved to the real port). */
  readonly address: SocketAddress;
  /** The next connection, or `null` once the listener is closed. Only one `accept()` may be pending at a time. */
  accept(): Promise<StreamSocket | null>;
  /** Stops listening; a pending `accept()` resolves to `null`; connections not yet accepted are closed. */
  close(): Promise<void>;
}

/** One received datagram. */
export interface Datagram {
  /** The payload (whole, never cut). Empty when {@link Datagram.oversize} is set. */
  readonly data: Uint8Array;
  /** The sender, or `null` when it has no address (an unbound unix datagram client). */
  readonly from: SocketAddress | null;
  /** Set when the datagram was longer than the endpoint's `maxPacketSize`: at least this many bytes. */
  readonly oversize?: number;
}

/** A bound datagram socket (UDP or unix datagram). */
export interface DatagramSocket {
  /** The bound address. */
  readonly address: SocketAddress;
  /** The next datagram, or `null` once closed. Only one `receive()` may be pending at a time. */
  receive(): Promise<Datagram | null>;
  /** Sends one datagram to `to`. */
  send(data: Uint8Array, to: SocketAddress): Promise<void>;
  /** Closes the socket; a pending `receive()` resolves to `null`. */
  close(): Promise<void>;
}

/** Options for {@link Runtime.listenStream}. */
export type StreamListenOptions =
  | {
    readonly transport: "tcp";
    readonly hostname: string;
    readonly port: number;
    readonly backlog: number;
    readonly reusePort: boolean;
  }
  | { readonly transport: "unix"; readonly path: string; readonly backlog: number };

/** Options for {@link Runtime.listenDatagram}. */
export type DatagramListenOptions =
  | {
    readonly transport: "udp";
    readonly hostname: string;
    readonly port: number;
    readonly reuseAddress: boolean;
    readonly reusePort: boolean;
    readonly maxPacketSize: number;
  }
  | { readonly transport: "unixgram"; readonly path: string; readonly maxPacketSize: number };

/** What is found at a unix socket path before binding it. */
export type UnixPathState = "absent" | "stale" | "live" | "not-a-socket";

/** A resolved host. */
export interface ResolvedHost {
  /** The IP address literal. */
  readonly address: string;
  /** Its family. */
  readonly family: 4 | 6;
}

/**
 * A runtime adapter: everything the core needs from Deno, Bun or Node.
 *
 * Adapters live in `runtimes/`; `mod.ts` plugs in the detected one. Pass one explicitly as a server's `runtime`
 * option to force a transport (for example Node's `node:net` adapter inside Bun).
 */
export interface Runtime {
  /** `"deno"`, `"bun"`, `"node"`, or a custom adapter's name. Used in error messages. */
  readonly name: string;
  /** Binds and listens. Rejects with `AddressInUseError` when the address is taken; leaves nothing open on failure. */
  listenStream(options: StreamListenOptions): Promise<StreamListener>;
  /** Binds a datagram socket. Rejects with `UnsupportedError` where the runtime lacks the transport. */
  listenDatagram(options: DatagramListenOptions): Promise<DatagramSocket>;
  /** Resolves a host name to one address (IPv4 preferred, as Python's `getaddrinfo` order usually gives). */
  lookupHost(hostname: string): Promise<ResolvedHost>;
  /** Tells whether a unix socket path is free, held by a live listener, or a stale file left by a dead one. */
  unixPathState(path: string, transport: "unix" | "unixgram"): Promise<UnixPathState>;
  /** Removes a file; a missing file is not an error. */
  removeFile(path: string): Promise<void>;
}
