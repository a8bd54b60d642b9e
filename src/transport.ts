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
import type { HandlerLocation } from "./handler_location.ts";
import type { TlsInfo } from "./tls/info.ts";
import type { TlsConfig } from "./tls/options.ts";

/** An IPv4 or IPv6 socket address, as Python writes it: `[host, port]`. */
export type InetAddress = readonly [host: string, port: number];

/** A unix socket address: a filesystem path. */
export type UnixAddress = string;

/** Any address a socket of this library can have. `null` stands for "no address" (an unbound unix client). */
export type SocketAddress = InetAddress | UnixAddress;

/**
 * Callbacks a stream socket delivers to its consumer. Exactly one consumer attaches to a socket. The adapter calls
 * them as methods of this object (`events.data(chunk)`), never detached from it.
 */
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
  /** What the TLS handshake settled, on a socket that {@link TlsContext.secure} gave; absent or `null` otherwise. */
  readonly tls?: TlsInfo | null;
}

/** A listening stream socket. */
export interface StreamListener {
  /** The bound address (port 0 resolved to the real port). */
  readonly address: SocketAddress;
  /** The next connection, or `null` once the listener is closed. Only one `accept()` may be pending at a time. */
  accept(): Promise<StreamSocket | null>;
  /** Stops listening; a pending `accept()` resolves to `null`; connections not yet accepted are closed. */
  close(): Promise<void>;
  /**
   * Optional fast path for adapters whose runtime pushes connections by callback: from now on, hand each new
   * connection to `sink` as it arrives (those already held first, at once), and `null` once closed, instead of
   * holding it for `accept()`. `deliverTo(null)`, also from inside `sink`, goes back to `accept()`. Returns `false`,
   * changing nothing, while an `accept()` is pending or once the listener is closed.
   */
  deliverTo?(sink: ((socket: StreamSocket | null) => void) | null): boolean;
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
  /**
   * Optional fast path for adapters whose runtime pushes datagrams by callback: from now on, hand each new datagram
   * to `sink` as it arrives (those already held first, at once), and `null` once closed, instead of holding it for
   * `receive()`. `deliverTo(null)`, also from inside `sink`, goes back to `receive()`. Returns `false`, changing
   * nothing, while a `receive()` is pending or once the socket is closed.
   */
  deliverTo?(sink: ((datagram: Datagram | null) => void) | null): boolean;
}

/** Options for {@link Runtime.listenStream}. */
export type StreamListenOptions =
  | {
    readonly transport: "tcp";
    readonly hostname: string;
    readonly port: number;
    readonly backlog: number;
    readonly reusePort: boolean;
    /**
     * Serve this already-listening socket (a descriptor inherited from a parent or from systemd) instead of binding:
     * `hostname` and `port` are then ignored. Adapters listen on it through `node:net` on every runtime.
     */
    readonly fd?: number;
  }
  | {
    readonly transport: "unix";
    readonly path: string;
    readonly backlog: number;
    /** As for TCP: serve this already-listening unix socket; `path` is then only its name for messages. */
    readonly fd?: number;
  };

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

/** Options for {@link Runtime.connectStream}. */
export type StreamConnectOptions =
  | { readonly transport: "tcp"; readonly hostname: string; readonly port: number }
  | { readonly transport: "unix"; readonly path: string };

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
  /**
   * Starts a worker thread (a module Web Worker on Deno and Bun, `node:worker_threads` on Node) that imports
   * `options.moduleUrl` and calls its export `options.exportName` with `options.port`. Absent from adapters whose
   * runtime has no threads: the threading mix-in then refuses to start, naming the runtime.
   */
  startWorker?(options: WorkerStartOptions): WorkerHandle;
  /** How many threads can run in parallel here (CPU cores available); the default size of worker pools. */
  availableParallelism?(): number;
  /**
   * Child processes of this runtime, for the forking mix-in. Absent from adapters that cannot start processes (an
   * in-memory test transport): the forking mix-in then refuses to bind, naming the runtime.
   */
  readonly childProcesses?: ChildProcesses;
  /**
   * Connects to a stream server, for clients (such as `RpcClient`). Absent from adapters without outgoing
   * connections: clients then refuse, naming the runtime.
   */
  connectStream?(options: StreamConnectOptions): Promise<StreamSocket>;
  /**
   * TLS, for servers with a `tls` option. Absent from adapters without it: such a server then refuses to bind,
   * naming the runtime. The three adapters share one engine, `node:tls`, the only one that enforces client
   * certificates, SNI, reloads and server-side upgrades alike on Deno, Bun and Node.
   */
  readonly tls?: TlsSupport;
  /**
   * Where SO_REUSEPORT can be used without risk (Linux, a runtime API that has it and needs no flag): TCP listeners
   * with `reusePort: true`, and UDP sockets. Absent means neither. The worker pool spreads connections by reusePort
   * where this allows it, and hands accepted connections over from its primary process otherwise.
   */
  readonly reusePort?: { readonly stream: boolean; readonly datagram: boolean };
}

/** TLS as the core sees it: listeners whose connections can be secured, and contexts that secure them. */
export interface TlsSupport {
  /**
   * Listens as {@link Runtime.listenStream} does, through sockets that {@link TlsContext.secure} can take: every
   * connection of a TLS server, and every plain one that may be upgraded later (STARTTLS).
   */
  listenStream(options: StreamListenOptions): Promise<StreamListener>;
  /**
   * Checks a configuration (every certificate parses, each key is readable with its passphrase and matches its
   * certificate) and builds a context from it.
   *
   * Rejects with a `TlsConfigError` saying which option is wrong and why.
   */
  createContext(config: TlsConfig): Promise<TlsContext>;
}

/** A server's TLS settings in force: secures connections, and can be given new settings for later ones. */
export interface TlsContext {
  /**
   * Runs the server side of a handshake on `socket`: a connection from {@link TlsSupport.listenStream}, or one handed
   * to a child process, that nothing is attached to yet or that {@link TlsContext.secure} may take over from its
   * consumer (its events stop; bytes it had read are its consumer's). Resolves once the handshake is done and the
   * client accepted (a client without a required certificate never gets this far), with the secured socket, not yet
   * attached. Rejects with a `TlsHandshakeError` when the handshake fails or outlasts `handshakeTimeout`; the
   * socket is then destroyed.
   *
   * @param socket the plain connection
   * @param handshakeStart called once `socket` is taken over from its consumer: the bytes its consumer read that
   * belong to the handshake (what followed a PROXY protocol header), which the handshake reads first
   */
  secure(socket: StreamSocket, handshakeStart?: () => Uint8Array): Promise<SecuredSocket>;
  /**
   * Replaces the settings for handshakes that start from now on; secured connections keep theirs.
   *
   * @throws {TlsConfigError} when the new settings cannot be used (the old ones stay in force)
   */
  update(config: TlsConfig): void;
}

/** A connection after its handshake. */
export interface SecuredSocket {
  /** The socket carrying plaintext from now on (nothing attached yet). */
  readonly socket: StreamSocket;
  /** What the handshake settled. */
  readonly info: TlsInfo;
}

/**
 * One end of a `MessageChannel`, typed by the few members the library uses (the web `MessagePort` on Deno and Bun,
 * `worker_threads.MessagePort` on Node: both fit).
 */
export interface MessagePortLike {
  /** Sends a structured-cloneable message; objects in `transfer` (ArrayBuffers, ports) move instead of being copied. */
  postMessage(message: unknown, transfer?: readonly object[]): void;
  /** Receives messages; setting it starts delivery. */
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  /** Disconnects both ends; pending messages may be dropped. */
  close(): void;
}

/** What {@link Runtime.startWorker} needs. */
export interface WorkerStartOptions {
  /** URL of the module the worker imports (`.ts` on Deno and Bun, compiled `.js` on Node). */
  readonly moduleUrl: string;
  /** The function that module exports; the worker calls it once, with {@link WorkerStartOptions.port}. */
  readonly exportName: string;
  /** The worker's end of a `MessageChannel`, transferred to it: every later message travels on this channel. */
  readonly port: MessagePortLike;
  /** A name for debuggers and error messages. */
  readonly name: string;
  /**
   * Called at most once, when the worker dies by itself: an uncaught error (with its message and, where the runtime
   * gives it, its stack) or an exit. Never called after {@link WorkerHandle.terminate}.
   */
  readonly onExit: (reason: Error) => void;
}

/** A worker thread started by {@link Runtime.startWorker}. */
export interface WorkerHandle {
  /** Stops the worker at once (whatever it is running); resolves when it is gone. Idempotent. */
  terminate(): Promise<void>;
}

/**
 * What a worker's boot module (in the runtime adapter) hands the worker's entry function besides its channel: how
 * to tag a request's work with an async context, and how to hear of faults the code did not catch, so that a worker
 * can fail the one request a fault came from and go on serving the others.
 */
export interface WorkerFaultHooks {
  /**
   * Runs `body` with `tag` as its async context: timers, callbacks and promises started in it (and in what they
   * start) carry the tag, as far as the runtime propagates it.
   */
  withTag<T>(tag: number, body: () => T): T;
  /**
   * Catches every uncaught error and unhandled rejection in the worker from now on (the worker no longer dies of
   * them) and passes each to `listener`, with the tag of the context it arose in where the runtime tells it.
   */
  listen(listener: (fault: WorkerFault) => void): void;
}

/** An uncaught error or unhandled rejection in a worker, as {@link WorkerFaultHooks.listen} reports it. */
export interface WorkerFault {
  /** `"error"`: thrown and not caught (from a timer, a callback); `"rejection"`: a rejected promise nobody handled. */
  readonly kind: "error" | "rejection";
  /** What was thrown or rejected with. */
  readonly error: unknown;
  /** The tag of the context it arose in ({@link WorkerFaultHooks.withTag}), or `undefined` where unknown. */
  readonly tag: number | undefined;
}

/**
 * Child processes running the same runtime as this one, for the forking mix-in: a listener whose connections can be
 * handed to a child (the socket itself moves: the child reads and writes it directly), and a way to start children.
 */
export interface ChildProcesses {
  /**
   * Listens as {@link Runtime.listenStream} does, with two differences: a connection reads nothing until its
   * `resume()` is called (a parent that hands it on never reads it), and it can be handed to a child with
   * {@link ChildProcess.send} after {@link ChildProcesses.detach}.
   */
  listenStream(options: StreamListenOptions): Promise<StreamListener>;
  /**
   * Readies a connection from {@link ChildProcesses.listenStream} to leave this process: waits until the bytes written
   * to it are sent, stops reading it for good, and delivers at once, to its `data` event, what it read and had not
   * delivered yet. Resolves to `false`, doing nothing, for a socket that cannot be handed on.
   */
  detach(socket: StreamSocket): Promise<boolean>;
  /** Starts a child process that imports the handler class and then waits for messages (see `src/forking/`). */
  start(options: ChildStartOptions, events: ChildProcessEvents): ChildProcess;
}

/** What {@link ChildProcesses.start} needs. */
export interface ChildStartOptions {
  /** Where the child imports its handler class from. */
  readonly handler: HandlerLocation;
  /**
   * Deno command-line flags of the child: its permissions (`--allow-read=/srv`, …) and any other flag. A Deno child
   * gets these and nothing else (no flag: no permission at all). Bun and Node have no permissions and ignore them.
   */
  readonly denoFlags: readonly string[];
  /**
   * What the child runs once its handler class is loaded: `"forking"` (default) serves one request at a time for a
   * forking server (`src/forking/child_loop.ts`); `"pool"` runs a whole server as a worker of a `WorkerPool`
   * (`src/pool/worker_loop.ts`).
   */
  readonly role?: "forking" | "pool";
}

/** How a child process ended. */
export interface ChildExit {
  /** Its process id. */
  readonly pid: number;
  /** Its exit status, or `null` when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it (`"SIGKILL"`, …), or `null` when it exited by itself. */
  readonly signal: string | null;
  /** Why it could not be started (a missing permission, no such executable, …), when that is what happened. */
  readonly startError?: Error;
}

/** What a parent hears from one child. */
export interface ChildProcessEvents {
  /** A message from the child (JSON data). */
  message(message: unknown): void;
  /** The child ended (or could not start: then `pid` is 0). Called once, last. */
  exit(exit: ChildExit): void;
}

/** A child process, as its parent sees it. */
export interface ChildProcess {
  /** Its process id (0 when it could not be started; `exit` then follows). */
  readonly pid: number;
  /**
   * Sends a message (JSON data). With `socket`, detached first by {@link ChildProcesses.detach}, hands that connection
   * over with it: once sent, this process's copy of the connection is closed (the socket emits `close`) and the child
   * alone holds it. Rejects when the child is gone.
   */
  send(message: unknown, socket?: StreamSocket): Promise<void>;
  /** Sends a signal to this child. Only ever called for children this process started. */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
  /** Lets this process exit while the child still runs. */
  unref(): void;
}

/** In a child process: the channel to the parent that started it. */
export interface ParentChannel {
  /** Starts delivering the parent's messages to `events`. */
  attach(events: ParentChannelEvents): void;
  /** Sends a message (JSON data) to the parent; resolves once it is handed to the OS. */
  send(message: unknown): Promise<void>;
  /** Ends this process with `code` at once. */
  exit(code: number): void;
}

/** What a child hears from its parent. */
export interface ParentChannelEvents {
  /** A message; `socket` is the connection handed over with it, or `null`. */
  message(message: unknown, socket: StreamSocket | null): void;
  /** The parent closed the channel, or is gone. */
  disconnect(): void;
}
