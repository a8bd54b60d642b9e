// Shared test tools: real clients over loopback and unix sockets (node:net and node:dgram run on all three runtimes),
// and a server harness that always closes what it opened.
import dgram from "node:dgram";
import { readdirSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaseServer, SocketAddress } from "../mod.ts";
import { runtimeName } from "../mod.ts";

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

/** Sends `payload`, half-closes, and returns everything the server sent until it closed. */
export function exchange(address: SocketAddress, payload: string | Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = typeof address === "string"
      ? net.connect({ path: address, allowHalfOpen: true })
      : net.connect({ host: address[0], port: address[1], allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => {
      socket.end();
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    socket.on("error", reject);
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
export function udpExchange(address: readonly [string, number], payload: string | Uint8Array, timeout = 3000): Promise<string | null> {
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
 * Starts `server` serving in the background, runs `body`, then shuts it down and closes it, even when `body` fails.
 */
export async function serving<S extends BaseServer<any, any, any>>(server: S, body: (server: S) => Promise<void>): Promise<void> {
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
