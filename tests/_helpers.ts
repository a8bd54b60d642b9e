// Shared test tools: real clients over loopback and unix sockets (node:net and node:dgram run on all three runtimes),
// and a server harness that always closes what it opened.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BaseServer, RequestHandlerClass, ServerClass, SocketAddress } from "../mod.ts";
import {
  AsyncTCPServer,
  AsyncUDPServer,
  AsyncUnixDatagramServer,
  AsyncUnixStreamServer,
  DatagramRequestHandler,
  runtimeName,
  StreamRequestHandler,
  TCPServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";

/** The runtime running the tests. */
export const RUNTIME: "deno" | "bun" | "node" = runtimeName();
/** Only Deno has unix datagram sockets. */
export const HAS_UNIX_DATAGRAM: boolean = RUNTIME === "deno";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Text of bytes. */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Bytes of text. */
export function bytes(value: string): Uint8Array {
  return encoder.encode(value);
}

let pathCounter = 0;
/** A fresh unix socket path under the temp dir (short enough for sun_path). */
export function socketPath(tag = "s"): string {
  return join(tmpdir(), `ss-${process.pid}-${tag}-${pathCounter++}.sock`);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects when `promise` takes longer than `ms`, so no test can hang. */
export function within<T>(ms: number, promise: Promise<T>, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Polls `condition` every few milliseconds until it holds; rejects after `ms`. */
export async function waitFor(condition: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await sleep(5);
  }
}

/** A promise the test resolves when it chooses: holds a handler until the test lets it go. */
export class Gate {
  readonly promise: Promise<void>;
  #open!: () => void;
  #opened = false;

  constructor() {
    this.promise = new Promise((resolve) => (this.#open = resolve));
  }

  /** Lets every waiter go. */
  open(): void {
    this.#opened = true;
    this.#open();
  }

  /** True once opened. */
  get opened(): boolean {
    return this.#opened;
  }
}

/** The repository root, whether the tests run from `tests/` or from the compiled `dist/tests/`. */
export const REPO_ROOT: string = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = dirname(here);
  return existsSync(join(up, "package.json")) ? up : dirname(up);
})();

/** Open file descriptors of this process (Linux). */
export function openFileDescriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Connects a TCP or unix stream client. */
export function connect(address: SocketAddress): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof address === "string"
      ? net.connect({ path: address })
      : net.connect({ host: address[0], port: address[1] });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Sends `payload`, half-closes, and returns everything the server sent until it closed. A server that closes before
 * the payload is written (EPIPE) is not an error here: what it sent is returned. Other errors (a reset) reject.
 */
export function exchange(address: SocketAddress, payload: string | Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = typeof address === "string"
      ? net.connect({ path: address, allowHalfOpen: true })
      : net.connect({ host: address[0], port: address[1], allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const received = () => Buffer.concat(chunks).toString("utf8");
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => {
      socket.end();
      resolve(received());
    });
    socket.on("close", () => resolve(received()));
    socket.on("error", (error: Error & { code?: string }) => {
      if (error.code !== "EPIPE") reject(error);
    });
    socket.end(payload);
  });
}

/** A line-oriented client: send a line, read a line. */
export class LineClient {
  #socket: net.Socket;
  #buffer = "";
  #waiters: Array<() => void> = [];
  #ended = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  static async open(address: SocketAddress): Promise<LineClient> {
    return new LineClient(await connect(address));
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  send(line: string): void {
    this.#socket.write(line);
  }

  /** Text received and not read yet. */
  get pending(): string {
    return this.#buffer;
  }

  /** The next line (with its newline), or `null` at end of stream. */
  async readLine(timeout = 5000): Promise<string | null> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const index = this.#buffer.indexOf("\n");
      if (index >= 0) {
        const line = this.#buffer.slice(0, index + 1);
        this.#buffer = this.#buffer.slice(index + 1);
        return line;
      }
      if (this.#ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no line from the server in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves when the server closed its side. */
  async ended(timeout = 5000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!this.#ended) {
      if (Date.now() > deadline) throw new Error("server did not close the connection in time");
      await sleep(5);
    }
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** Sends one UDP datagram and waits for one reply (or `null` after `timeout`). */
export function udpExchange(
  address: SocketAddress,
  payload: string | Uint8Array,
  timeout = 3000,
): Promise<string | null> {
  if (typeof address === "string") return Promise.reject(new TypeError("node:dgram cannot reach a unix path"));
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(address[0].includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      socket.close();
      resolve(null);
    }, timeout);
    socket.once("message", (message: Buffer) => {
      clearTimeout(timer);
      socket.close();
      resolve(message.toString("utf8"));
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.send(payload, address[1], address[0]);
  });
}

/**
 * Sends one unix datagram from a client socket bound to a fresh path (so that the server can reply) and waits for one
 * reply (or `null` after `timeout`). Deno only: the other runtimes have no unix datagram sockets.
 */
export async function unixDatagramExchange(
  path: string,
  payload: string | Uint8Array,
  timeout = 3000,
): Promise<string | null> {
  const api = (globalThis as { Deno?: DenoDatagramApi }).Deno;
  if (api?.listenDatagram === undefined) throw new Error("unix datagram clients need Deno with --unstable-net");
  const clientPath = socketPath("client");
  const conn = api.listenDatagram({ transport: "unixpacket", path: clientPath });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await conn.send(typeof payload === "string" ? bytes(payload) : payload, { transport: "unixpacket", path });
    const reply = conn.receive().then(([data]) => text(data), () => null);
    const expired = new Promise<null>((resolve) => (timer = setTimeout(resolve, timeout, null)));
    return await Promise.race([reply, expired]);
  } finally {
    clearTimeout(timer);
    conn.close();
    rmSync(clientPath, { force: true });
  }
}

interface DenoDatagramApi {
  listenDatagram(options: { transport: "unixpacket"; path: string }): {
    send(data: Uint8Array, to: { transport: "unixpacket"; path: string }): Promise<number>;
    receive(): Promise<[Uint8Array, unknown]>;
    close(): void;
  };
}

/** Resolves with how the server ended a connection the client keeps open: `"end"` (FIN) or an error code (a reset). */
export function closedByServer(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once("end", () => {
      socket.destroy();
      resolve("end");
    });
    socket.once("error", (error: Error & { code?: string }) => resolve(error.code ?? error.message));
    socket.once("close", () => resolve("close"));
    socket.resume();
  });
}

/** Resolves with the error code of a stream connect to `address` that fails, or `"connected"`. */
export function connectOutcome(address: SocketAddress): Promise<string> {
  return connect(address).then(
    (socket) => {
      socket.destroy();
      return "connected";
    },
    (error: Error & { code?: string }) => error.code ?? error.message,
  );
}

/** What a child process printed and how it ended. */
export interface ChildResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `python3 -c code args...` (killed after `timeout` ms) and returns what it printed. */
export function python(code: string, args: readonly string[] = [], timeout = 10000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-c", code, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Any server of this library. */
// deno-lint-ignore no-explicit-any
export type AnyServer = BaseServer<any, any, any>;
/** Any handler class, for any server. */
// deno-lint-ignore no-explicit-any
export type AnyHandlerClass = RequestHandlerClass<any, any>;
/** Either handler with `rfile` and `wfile`. */
// deno-lint-ignore no-explicit-any
export type AnyHandler = StreamRequestHandler<any> | DatagramRequestHandler<any>;

/** One error as `handleError()` received it. */
export interface ReportedError {
  readonly request: unknown;
  readonly clientAddress: unknown;
  readonly error: unknown;
}

/** Replaces `server.handleError` with one that records each call (and prints nothing). */
export function recordErrors(server: AnyServer): ReportedError[] {
  const reported: ReportedError[] = [];
  server.handleError = (request: unknown, clientAddress: unknown, error: unknown) => {
    reported.push({ request, clientAddress, error });
  };
  return reported;
}

/** Runs `body` with `console.error` captured (restored afterwards) and returns what was printed, one entry a call. */
export async function capturingConsoleError(body: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    printed.push(args.map((arg) => (arg instanceof Error ? `${arg.name}: ${arg.message}` : String(arg))).join(" "));
  };
  try {
    await body();
  } finally {
    console.error = original;
  }
  return printed;
}

/** What a test handler does: bodies for `setup` (after the base class's), `handle`, and `finish` (after the base's). */
export interface HandlerBody {
  setup?(handler: AnyHandler): unknown;
  handle?(handler: AnyHandler): unknown;
  finish?(handler: AnyHandler): unknown;
}

/** A transport, with the server classes that serve it and a client that makes one request. */
export interface ServerKind {
  /** The server class's name, with the address family when it is not the default. */
  readonly name: string;
  readonly transport: "tcp" | "udp" | "unix" | "unixgram";
  /** Served by the `AsyncMixIn` (the event loop) rather than synchronously. */
  readonly async: boolean;
  /** A stream server (TCP, unix stream) rather than a datagram server. */
  readonly stream: boolean;
  /** False where the runtime lacks the transport (unix datagrams outside Deno). */
  readonly supported: boolean;
  /** The class, for subclassing in tests. */
  readonly Server: ServerClass;
  /** A fresh address to bind (port 0, or a new unix path). */
  address(): SocketAddress;
  /** A new server of this kind on a fresh address. */
  create(Handler: AnyHandlerClass, options?: Record<string, unknown>): AnyServer;
  /** A handler class of the right base class running `body`. */
  handler(body: HandlerBody): AnyHandlerClass;
  /**
   * One request as a client makes it: streams send `payload`, half-close and read until the server closes; datagram
   * clients send one datagram and wait for one reply (`null` after `timeout`).
   */
  request(address: SocketAddress, payload: string | Uint8Array, timeout?: number): Promise<string | null>;
}

// The hooks forward without `async`, so that a body that throws synchronously makes the hook throw synchronously.
function streamHandler(body: HandlerBody): AnyHandlerClass {
  return class TestStreamHandler extends StreamRequestHandler {
    override setup(): void | Promise<void> {
      return then(super.setup(), () => body.setup?.(this));
    }
    override handle(): void | Promise<void> {
      return body.handle?.(this) as void | Promise<void>;
    }
    override async finish(): Promise<void> {
      await super.finish();
      await body.finish?.(this);
    }
  };
}

function datagramHandler(body: HandlerBody): AnyHandlerClass {
  return class TestDatagramHandler extends DatagramRequestHandler {
    override setup(): void | Promise<void> {
      return then(super.setup(), () => body.setup?.(this));
    }
    override handle(): void | Promise<void> {
      return body.handle?.(this) as void | Promise<void>;
    }
    override async finish(): Promise<void> {
      await super.finish();
      await body.finish?.(this);
    }
  };
}

function then(first: void | Promise<void>, next: () => unknown): void | Promise<void> {
  if (first instanceof Promise) return first.then(next) as Promise<void>;
  return next() as void | Promise<void>;
}

function kind(
  name: string,
  transport: ServerKind["transport"],
  isAsync: boolean,
  Server: ServerClass,
  address: () => SocketAddress,
): ServerKind {
  const stream = transport === "tcp" || transport === "unix";
  return {
    name,
    transport,
    async: isAsync,
    stream,
    supported: transport !== "unixgram" || HAS_UNIX_DATAGRAM,
    Server,
    address,
    create: (Handler, options = {}) => new Server(address(), Handler, options),
    handler: stream ? streamHandler : datagramHandler,
    request: (to, payload, timeout = 3000) => {
      if (stream) return within(timeout + 2000, exchange(to, payload), "stream request");
      if (typeof to === "string") return unixDatagramExchange(to, payload, timeout);
      return udpExchange(to, payload, timeout);
    },
  };
}

/**
 * Asserts that a request gets no reply: a stream server closes the connection (cleanly, or with a reset when it closed
 * before the client's bytes arrived, as any socket does), a datagram server sends nothing within `timeout`.
 */
export async function assertNoReply(
  kind: ServerKind,
  address: SocketAddress,
  payload: string,
  timeout = 150,
): Promise<void> {
  const reply = await kind.request(address, payload, timeout).catch((error: Error & { code?: string }) => {
    if (error.code === "ECONNRESET") return kind.stream ? "" : error.code;
    throw error;
  });
  assert.equal(reply, kind.stream ? "" : null);
}

const ipv4 = (): SocketAddress => ["127.0.0.1", 0];
const ipv6 = (): SocketAddress => ["::1", 0];
const unixPath = (): SocketAddress => socketPath();

/** The eight server classes (IPv4 for TCP and UDP), synchronous and async, in the same order for every test file. */
export const SERVER_KINDS: readonly ServerKind[] = [
  kind("TCPServer", "tcp", false, TCPServer, ipv4),
  kind("AsyncTCPServer", "tcp", true, AsyncTCPServer, ipv4),
  kind("UDPServer", "udp", false, UDPServer, ipv4),
  kind("AsyncUDPServer", "udp", true, AsyncUDPServer, ipv4),
  kind("UnixStreamServer", "unix", false, UnixStreamServer, unixPath),
  kind("AsyncUnixStreamServer", "unix", true, AsyncUnixStreamServer, unixPath),
  kind("UnixDatagramServer", "unixgram", false, UnixDatagramServer, unixPath),
  kind("AsyncUnixDatagramServer", "unixgram", true, AsyncUnixDatagramServer, unixPath),
];

/** TCP and UDP servers on the IPv6 loopback. */
export const IPV6_KINDS: readonly ServerKind[] = [
  kind("TCPServer over IPv6", "tcp", false, TCPServer, ipv6),
  kind("AsyncTCPServer over IPv6", "tcp", true, AsyncTCPServer, ipv6),
  kind("UDPServer over IPv6", "udp", false, UDPServer, ipv6),
  kind("AsyncUDPServer over IPv6", "udp", true, AsyncUDPServer, ipv6),
];

/** The kinds this runtime supports. */
export const SUPPORTED_KINDS: readonly ServerKind[] = SERVER_KINDS.filter((k) => k.supported);

/** Handlers of {@link countingEcho}: started, running now, most running at once, finished. */
export interface EchoCounts {
  started: number;
  running: number;
  maxRunning: number;
  finished: number;
}

/**
 * An echo that counts its handlers (started, running at once, finished) and awaits `beforeReply(data, handler)`
 * between reading the request and writing the reply.
 */
export function countingEcho(
  kind: ServerKind,
  beforeReply: (data: Uint8Array, handler: AnyHandler) => unknown,
): { Handler: AnyHandlerClass; state: EchoCounts } {
  const state: EchoCounts = { started: 0, running: 0, maxRunning: 0, finished: 0 };
  const Handler = kind.handler({
    async handle(handler) {
      state.started++;
      state.running++;
      state.maxRunning = Math.max(state.maxRunning, state.running);
      try {
        const data = await handler.rfile.read();
        await beforeReply(data, handler);
        await handler.wfile.write(data);
      } finally {
        state.running--;
        state.finished++;
      }
    },
  });
  return { Handler, state };
}

/**
 * Starts `server` serving in the background, runs `body`, then shuts it down and closes it, even when `body` fails.
 */
export async function serving<S extends AnyServer>(server: S, body: (server: S) => Promise<void>): Promise<void> {
  await server.listen();
  const loop = server.serveForever();
  try {
    await body(server);
  } finally {
    await within(10000, server.shutdown(), "shutdown()");
    await within(10000, server.serverClose(), "serverClose()");
    await within(10000, loop, "serveForever()");
  }
}
