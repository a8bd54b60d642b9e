/**
 * The Deno adapter: `Deno.listen` and `Deno.listenDatagram` (UDP and unix datagrams need `--unstable-net`).
 *
 * Deno's API is typed here by the few members used, so that published types do not depend on Deno's lib.
 *
 * @module
 */
import { formatAddress } from "../src/address.ts";
import { UnsupportedError } from "../src/errors.ts";
import type {
  Datagram,
  DatagramListenOptions,
  DatagramSocket,
  Runtime,
  SocketAddress,
  StreamListener,
  StreamListenOptions,
  StreamSocket,
  StreamSocketEvents,
} from "../src/transport.ts";
import { copyOut, POOLED_COPY_LIMIT } from "../src/byte_pool.ts";
import { childProcesses } from "./_fork.ts";
import { nodeConnectStream } from "./_node_connect.ts";
import { bindError, lookupHost, removeFile, unixPathState } from "./_files.ts";
import { nodeReusePort, NodeStreamListener, nodeTls } from "./_node_stream.ts";
import { startWebWorker, webParallelism } from "./_web_worker.ts";

type DenoAddr =
  | { transport: "tcp" | "udp"; hostname: string; port: number }
  | { transport: "unix" | "unixpacket"; path: string };

interface DenoConn {
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(enabled?: boolean): void;
}

interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

interface DenoDatagramConn {
  readonly addr: DenoAddr;
  receive(buffer?: Uint8Array): Promise<[Uint8Array, DenoAddr]>;
  send(data: Uint8Array, to: DenoAddr): Promise<number>;
  close(): void;
}

interface DenoApi {
  listen(options: Record<string, unknown>): DenoListener;
  listenDatagram?(options: Record<string, unknown>): DenoDatagramConn;
  readonly build: { readonly os: string };
  makeTempDirSync(options?: { prefix?: string }): string;
  removeSync(path: string, options?: { recursive?: boolean }): void;
  readonly permissions?: { querySync?(descriptor: { name: "ffi" }): { readonly state: string } };
  dlopen?(
    path: string,
    symbols: Record<string, { parameters: string[]; result: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => number> };
}

function deno(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

function toAddress(addr: DenoAddr): SocketAddress {
  return "path" in addr ? addr.path ?? "" : [addr.hostname, addr.port];
}

/**
 * A pending `read()` holds its buffer, so every idle connection holds one: start small (10,000 idle connections
 * would otherwise hold 640 MiB) and grow, up to the largest, when a read fills the buffer.
 */
const FIRST_READ_SIZE = 256;
const LARGEST_READ_SIZE = 64 * 1024;
/** Bytes queued before `write()` asks the caller to wait for `drain`. */
const HIGH_WATER_MARK = 64 * 1024;
/** Small queued chunks are joined into one write up to this size, saving a syscall each. */
const COALESCE_LIMIT = 64 * 1024;

/** The calls of the C library that {@link resetNow} needs, through `Deno.dlopen`. */
interface ResetCalls {
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, size: number): number;
  open(path: Uint8Array, flags: number): number;
  dup2(from: number, to: number): number;
  close(fd: number): number;
}

/** Loaded on first use: `null` without the FFI permission, off Linux, or where the C library is not found. */
let resetCalls: ResetCalls | null | undefined;

/** Linux's SOL_SOCKET, SO_LINGER and O_CLOEXEC, and a `struct linger` of { on, 0 s }: a close then sends RST. */
const SOL_SOCKET = 1;
const SO_LINGER = 13;
const O_CLOEXEC = 0o2000000;
const LINGER_ZERO = new Uint8Array(new Int32Array([1, 0]).buffer);
const DEV_NULL = new TextEncoder().encode("/dev/null\0");

function loadResetCalls(): ResetCalls | null {
  const api = deno();
  try {
    if (api.build.os !== "linux" || api.permissions?.querySync?.({ name: "ffi" }).state !== "granted") return null;
    const { symbols } = api.dlopen!("libc.so.6", {
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
      open: { parameters: ["buffer", "i32"], result: "i32" },
      dup2: { parameters: ["i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    });
    return symbols as unknown as ResetCalls;
  } catch {
    return null;
  }
}

/**
 * Resets `conn` (RST) at once, as Node's `resetAndDestroy()` and Bun's `terminate()` do; the caller then closes it as
 * usual. Deno's TCP connections have no such call, and their `close()` shuts the write side down first (FIN) even with
 * SO_LINGER at 0, so through FFI (Linux, with the FFI permission) SO_LINGER is set to 0 and /dev/null is put in place
 * of the socket's descriptor (`dup2`): the socket's last descriptor closes, which sends RST, and Deno's `close()`
 * then closes /dev/null. The descriptor is the connection's internal `Deno.internal.fd`. Where any of this is missing,
 * nothing is done and the close sends FIN: a client cannot tell a cut-off reply from a whole one.
 */
function resetNow(conn: DenoConn): void {
  resetCalls ??= loadResetCalls();
  if (resetCalls === null) return;
  const key = Object.getOwnPropertySymbols(conn).find((symbol) => symbol.description === "Deno.internal.fd");
  const fd = key === undefined ? undefined : (conn as unknown as Record<symbol, unknown>)[key];
  if (typeof fd !== "number" || fd < 0) return;
  if (resetCalls.setsockopt(fd, SOL_SOCKET, SO_LINGER, LINGER_ZERO, LINGER_ZERO.length) !== 0) return;
  const placeholder = resetCalls.open(DEV_NULL, O_CLOEXEC);
  if (placeholder < 0) return;
  resetCalls.dup2(placeholder, fd);
  resetCalls.close(placeholder);
}

class DenoStreamSocket implements StreamSocket {
  readonly remoteAddress: SocketAddress;
  #localAddress: SocketAddress | undefined;
  bufferedAmount = 0;
  #conn: DenoConn;
  #events: StreamSocketEvents | null = null;
  #queue: Uint8Array[] = [];
  #writing = false;
  #wantDrain = false;
  #writeClosing = false;
  #writeClosed = false;
  #closing = false;
  #closed = false;
  #paused = false;
  #resume: (() => void) | null = null;

  constructor(conn: DenoConn) {
    this.#conn = conn;
    this.remoteAddress = toAddress(conn.remoteAddr);
  }

  /** Read on first use: few handlers ask, and every open connection would hold it. */
  get localAddress(): SocketAddress {
    return this.#localAddress ??= toAddress(this.#conn.localAddr);
  }

  attach(events: StreamSocketEvents): void {
    this.#events = events;
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const events = this.#events!;
    let buffer = new Uint8Array(FIRST_READ_SIZE);
    for (;;) {
      if (this.#paused) await new Promise<void>((resolve) => (this.#resume = resolve));
      if (this.#closed) return;
      let count: number | null;
      try {
        count = await this.#conn.read(buffer);
      } catch (error) {
        if (!this.#closed) {
          events.error(error as Error);
          this.#finishClose();
        }
        return;
      }
      if (this.#closed) return;
      if (count === null) {
        events.end();
        if (this.#writeClosed) this.#finishClose();
        return;
      }
      const next = count === buffer.length ? Math.min(buffer.length * 4, LARGEST_READ_SIZE) : buffer.length;
      if (count > POOLED_COPY_LIMIT && count * 2 > buffer.length) {
        // Large and mostly full: handed over as it is, and reading goes on in a new buffer (saves copying it).
        events.data(buffer.subarray(0, count));
        buffer = new Uint8Array(next);
      } else {
        events.data(copyOut(buffer, count));
        if (next !== buffer.length) buffer = new Uint8Array(next);
      }
    }
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const resume = this.#resume;
    this.#resume = null;
    resume?.();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#writeClosing) return true;
    this.bufferedAmount += chunk.length;
    if (!this.#writing) {
      // The usual case, a reply to a request: straight out, without a trip through the queue.
      this.#writing = true;
      this.#writeOut(chunk, 0);
    } else this.#queue.push(chunk);
    if (this.bufferedAmount < HIGH_WATER_MARK) return true;
    this.#wantDrain = true;
    return false;
  }

  /** Writes the queue out one (coalesced) chunk at a time, with plain callbacks: this is every reply's path. */
  #flush(): void {
    if (this.#queue.length === 0 || this.#closed) {
      this.#writing = false;
      this.#afterFlush();
      return;
    }
    this.#writing = true;
    const chunk = this.#nextChunk();
    this.#writeOut(chunk, 0);
  }

  #writeOut(chunk: Uint8Array, offset: number): void {
    this.#conn.write(offset === 0 ? chunk : chunk.subarray(offset)).then(
      (written) => {
        if (offset + written < chunk.length) return this.#writeOut(chunk, offset + written);
        this.bufferedAmount -= chunk.length;
        this.#flush();
      },
      (error) => {
        this.#writing = false;
        if (!this.#closed) {
          this.#events?.error(error as Error);
          this.#finishClose();
        }
      },
    );
  }

  #afterFlush(): void {
    if (this.#closed) return;
    if (this.#wantDrain) {
      this.#wantDrain = false;
      this.#events?.drain();
    }
    // A consumer may write again from inside drain(): those bytes go out first, and this runs again after them.
    if (this.#writing || this.#queue.length > 0) return;
    if (this.#writeClosing) void this.#shutdownWrite();
    if (this.#closing) this.#finishClose();
  }

  #nextChunk(): Uint8Array {
    const queue = this.#queue;
    const first = queue.shift()!;
    if (queue.length === 0 || first.length >= COALESCE_LIMIT) return first;
    let size = first.length;
    let count = 0;
    while (count < queue.length && size + queue[count].length <= COALESCE_LIMIT) size += queue[count++].length;
    if (count === 0) return first;
    const joined = new Uint8Array(size);
    joined.set(first, 0);
    let offset = first.length;
    for (const chunk of queue.splice(0, count)) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    return joined;
  }

  async #shutdownWrite(): Promise<void> {
    if (this.#writeClosed) return;
    this.#writeClosed = true;
    try {
      await this.#conn.closeWrite();
    } catch {
      // The peer is gone already: nothing to half-close.
    }
  }

  closeWrite(): void {
    if (this.#writeClosing || this.#closed) return;
    this.#writeClosing = true;
    if (!this.#writing && this.#queue.length === 0) void this.#shutdownWrite();
  }

  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    if (!this.#writing && this.#queue.length === 0) this.#finishClose();
  }

  abort(): void {
    this.#queue = [];
    this.bufferedAmount = 0;
    if (!this.#closed && this.#conn.remoteAddr.transport === "tcp") resetNow(this.#conn);
    this.#finishClose();
  }

  #finishClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime.
    }
    this.resume();
    this.#events?.close();
  }

  setNoDelay(enabled: boolean): void {
    this.#conn.setNoDelay?.(enabled);
  }
}

/**
 * Deno's names for the errors of `accept()` that concern the connection being accepted alone (a reset before it was
 * accepted makes its `getpeername` fail: NotConnected), and the `accept(2)` codes of the same kind (the ones Linux
 * says to treat as "try again").
 */
const ONE_CONNECTION_NAMES: ReadonlySet<string> = new Set([
  "ConnectionReset",
  "ConnectionAborted",
  "ConnectionRefused",
  "NotConnected",
  "TimedOut",
  "Interrupted",
  "WouldBlock",
]);
const ONE_CONNECTION_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTCONN",
  "ETIMEDOUT",
  "EINTR",
  "EAGAIN",
  "EPROTO",
  "EPERM",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENETDOWN",
  "ENETUNREACH",
  "ENONET",
  "EOPNOTSUPP",
]);

function concernsOneConnection(error: unknown): boolean {
  const { name, code } = error as { name?: unknown; code?: unknown };
  return (typeof name === "string" && ONE_CONNECTION_NAMES.has(name)) ||
    (typeof code === "string" && ONE_CONNECTION_CODES.has(code));
}

class DenoStreamListener implements StreamListener {
  readonly address: SocketAddress;
  #listener: DenoListener;
  #closed = false;

  constructor(listener: DenoListener) {
    this.#listener = listener;
    this.address = toAddress(listener.addr);
  }

  static listen(options: StreamListenOptions): DenoStreamListener {
    const described = options.transport === "unix" ? options.path : formatAddress([options.hostname, options.port]);
    try {
      const listener = options.transport === "unix"
        ? deno().listen({ transport: "unix", path: options.path })
        : deno().listen({
          transport: "tcp",
          hostname: options.hostname,
          port: options.port,
          ...(options.reusePort ? { reusePort: true } : {}),
        });
      return new DenoStreamListener(listener);
    } catch (error) {
      throw bindError(error, described, options.transport === "unix" ? options.path : undefined);
    }
  }

  async accept(): Promise<StreamSocket | null> {
    for (;;) {
      if (this.#closed) return null;
      try {
        return new DenoStreamSocket(await this.#listener.accept());
      } catch (error) {
        if (this.#closed) return null;
        // A connection reset before it was accepted is the client's business, not the server's: the next one waits.
        if (concernsOneConnection(error)) continue;
        throw error;
      }
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.close();
    }
    return Promise.resolve();
  }
}

/** A private socket that ends a pending unixpacket `receive()` by sending it an empty datagram (see below). */
interface Waker {
  readonly conn: DenoDatagramConn;
  readonly path: string;
  /** A temporary directory to remove at close, where there are no abstract socket names (not Linux). */
  readonly directory: string | undefined;
}

const NO_BYTES = new Uint8Array(0);

class DenoDatagramSocket implements DatagramSocket {
  readonly address: SocketAddress;
  #conn: DenoDatagramConn;
  #buffer: Uint8Array;
  #maxPacketSize: number;
  #transport: "udp" | "unixpacket";
  #closed = false;
  // Deno's unixpacket socket is exclusive: a send while a receive is pending fails with "Busy: Socket already in use"
  // (UDP has no such limit). So on unixpacket, sends and receives take turns; a send that finds a receive pending
  // ends it with an empty datagram from a private waker socket, which the receive loop then drops. Replies still come
  // from the server's own address.
  #owner: "send" | "receive" | null = null;
  #sendTurns: Array<() => void> = [];
  #receiveTurn: (() => void) | null = null;
  #waker: Waker | null = null;
  #wakeSent = false;

  constructor(conn: DenoDatagramConn, maxPacketSize: number, transport: "udp" | "unixpacket") {
    this.#conn = conn;
    this.address = toAddress(conn.addr);
    this.#maxPacketSize = maxPacketSize;
    // One byte more than allowed, so that an oversize datagram is seen as such instead of silently cut.
    this.#buffer = new Uint8Array(Math.max(maxPacketSize + 1, 65536));
    this.#transport = transport;
  }

  static bind(options: DatagramListenOptions): DenoDatagramSocket {
    const api = deno();
    const what = options.transport === "udp" ? "UDP" : "unix datagram sockets";
    if (typeof api.listenDatagram !== "function") {
      throw new UnsupportedError(`${what} on Deno need --unstable-net (or "unstable": ["net"] in deno.json)`);
    }
    const described = options.transport === "unixgram" ? options.path : formatAddress([options.hostname, options.port]);
    try {
      if (options.transport === "unixgram") {
        const conn = api.listenDatagram({ transport: "unixpacket", path: options.path });
        return new DenoDatagramSocket(conn, options.maxPacketSize, "unixpacket");
      }
      const conn = api.listenDatagram({
        transport: "udp",
        hostname: options.hostname,
        port: options.port,
        ...(options.reuseAddress ? { reuseAddress: true } : {}),
        ...(options.reusePort ? { reusePort: true } : {}),
      });
      return new DenoDatagramSocket(conn, options.maxPacketSize, "udp");
    } catch (error) {
      throw bindError(error, described, options.transport === "unixgram" ? options.path : undefined);
    }
  }

  async receive(): Promise<Datagram | null> {
    const exclusive = this.#transport === "unixpacket";
    for (;;) {
      if (this.#closed) return null;
      let data: Uint8Array;
      let from: DenoAddr;
      if (exclusive) await this.#take("receive");
      try {
        [data, from] = await this.#conn.receive(this.#buffer);
      } catch (error) {
        if (this.#closed) return null;
        // An ICMP "port unreachable" from an earlier reply surfaces here on Linux; it is not this request's problem.
        if ((error as Error).name === "ConnectionRefused") continue;
        throw error;
      } finally {
        if (exclusive) this.#release();
      }
      const sender = toAddress(from);
      if (exclusive && this.#waker !== null && sender === this.#waker.path) continue;
      const address = sender === "" ? null : sender;
      if (data.length > this.#maxPacketSize) return { data: new Uint8Array(0), from: address, oversize: data.length };
      return { data: copyOut(data, data.length), from: address };
    }
  }

  async send(data: Uint8Array, to: SocketAddress): Promise<void> {
    const target: DenoAddr = typeof to === "string"
      ? { transport: "unixpacket", path: to }
      : { transport: "udp", hostname: to[0], port: to[1] };
    if ((typeof to === "string") !== (this.#transport === "unixpacket")) {
      throw new TypeError(`cannot send to ${formatAddress(to)} from a ${this.#transport} socket`);
    }
    if (this.#transport === "udp") {
      await this.#conn.send(data, target);
      return;
    }
    await this.#take("send");
    try {
      await this.#conn.send(data, target);
    } finally {
      this.#release();
    }
  }

  /** Waits for the unixpacket socket's turn; a send waiting on a pending receive wakes it. */
  #take(turn: "send" | "receive"): Promise<void> {
    if (this.#owner === null && (turn === "send" || this.#sendTurns.length === 0)) {
      this.#owner = turn;
      if (turn === "receive") this.#wakeSent = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      if (turn === "receive") {
        this.#receiveTurn = resolve;
        return;
      }
      this.#sendTurns.push(resolve);
      if (this.#owner === "receive") this.#wake();
    });
  }

  /** Hands the socket on: waiting sends first, then the receive. */
  #release(): void {
    this.#owner = null;
    const send = this.#sendTurns.shift();
    if (send !== undefined) {
      this.#owner = "send";
      send();
      return;
    }
    const receive = this.#receiveTurn;
    if (receive !== null) {
      this.#receiveTurn = null;
      this.#owner = "receive";
      this.#wakeSent = false;
      receive();
    }
  }

  #wake(): void {
    if (this.#wakeSent || this.#closed) return;
    this.#wakeSent = true;
    try {
      this.#waker ??= makeWaker();
    } catch {
      // No waker (no permission for a temporary directory): the send goes out after the next datagram arrives.
      return;
    }
    this.#waker.conn.send(NO_BYTES, { transport: "unixpacket", path: this.address as string }).catch(() => {});
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#conn.close();
      const waker = this.#waker;
      this.#waker = null;
      if (waker !== null) {
        waker.conn.close();
        if (waker.directory !== undefined) {
          try {
            deno().removeSync(waker.directory, { recursive: true });
          } catch {
            // Already gone.
          }
        }
      }
    }
    return Promise.resolve();
  }
}

let wakerCount = 0;

/** A unixpacket socket with a name of its own: abstract on Linux (no file), in a temporary directory elsewhere. */
function makeWaker(): Waker {
  const api = deno();
  const unique = `sockserve-wake-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${wakerCount++}`;
  if (api.build.os === "linux") {
    const path = `\0${unique}`;
    return { conn: api.listenDatagram!({ transport: "unixpacket", path }), path, directory: undefined };
  }
  const directory = api.makeTempDirSync({ prefix: "sockserve-" });
  const path = `${directory}/w`;
  return { conn: api.listenDatagram!({ transport: "unixpacket", path }), path, directory };
}

/** The Deno adapter: `Deno.listen` for streams, `Deno.listenDatagram` for UDP and unix datagrams. */
export const denoRuntime: Runtime = {
  name: "deno",
  // Deno.listen has no descriptor option, and its reusePort ends the process without --unstable-net: node:net has both.
  listenStream: (options) =>
    options.fd !== undefined || (options.transport === "tcp" && options.reusePort)
      ? NodeStreamListener.listen(options)
      : Promise.resolve().then(() => DenoStreamListener.listen(options)),
  listenDatagram: (options) => Promise.resolve().then(() => DenoDatagramSocket.bind(options)),
  lookupHost,
  unixPathState,
  removeFile,
  startWorker: startWebWorker,
  availableParallelism: webParallelism,
  childProcesses,
  connectStream: nodeConnectStream,
  tls: nodeTls,
  // Streams through node:net (no flag needed); Deno's UDP has no reusePort at all (deno#36858).
  reusePort: { stream: nodeReusePort, datagram: false },
};
