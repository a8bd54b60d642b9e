/**
 * The Deno adapter: `Deno.listen` and `Deno.listenDatagram` (UDP and unix datagrams need `--unstable-net`).
 *
 * Deno's API is typed in `_deno_api.ts`; the datagram socket is in `_deno_datagram.ts`.
 *
 * @module
 */
import { formatAddress } from "../src/address.ts";
import type {
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
import { deno, type DenoConn, type DenoListener, toAddress } from "./_deno_api.ts";
import { DenoDatagramSocket } from "./_deno_datagram.ts";

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
