// Raw RPC clients for the RPC tests: hand-made messages over TCP, unix stream and UDP, replies read as records.
import dgram from "node:dgram";
import net from "node:net";
import { AUTH_NONE, encodeCall, type OpaqueAuth, type SocketAddress, xdr } from "../mod.ts";

/** Hex of bytes, in 4-byte words separated by spaces (how the RFC and the tests write messages). */
export function words(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return hex.match(/.{1,8}/g)?.join(" ") ?? "";
}

/** Bytes from hex words (spaces ignored). */
export function unwords(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return new Uint8Array(clean.match(/../g)?.map((pair) => parseInt(pair, 16)) ?? []);
}

/** A call message (unframed) with these fields; `args` are bytes already encoded. */
export function callMessage(
  fields: {
    xid?: number;
    rpcvers?: number;
    prog: number;
    vers: number;
    proc: number;
    cred?: OpaqueAuth;
    verf?: OpaqueAuth;
  },
  args: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const head = encodeCall(
    {
      xid: fields.xid ?? 1,
      program: fields.prog,
      version: fields.vers,
      procedure: fields.proc,
      cred: fields.cred ?? AUTH_NONE,
      verf: fields.verf ?? AUTH_NONE,
    },
    xdr.voidType(),
    undefined,
    false,
  );
  const out = new Uint8Array(head.length + args.length);
  out.set(head);
  out.set(args, head.length);
  if (fields.rpcvers !== undefined) new DataView(out.buffer).setUint32(8, fields.rpcvers);
  return out;
}

/** One fragment header. */
export function fragmentHeader(length: number, last: boolean): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, ((last ? 0x8000_0000 : 0) | length) >>> 0);
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A stream client reading reply records. */
export class RecordClient {
  readonly socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #records: Uint8Array[] = [];
  #waiters: Array<() => void> = [];
  #ended = false;
  /** How the connection ended: "end", "close" or an error code; `null` while open. */
  ended: string | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (;;) {
        if (this.#buffer.length < 4) break;
        const header = this.#buffer.readUInt32BE(0);
        const length = header & 0x7fff_ffff;
        if (this.#buffer.length < 4 + length) break;
        // The server sends each reply as one fragment.
        this.#records.push(new Uint8Array(this.#buffer.subarray(4, 4 + length)));
        this.#buffer = this.#buffer.subarray(4 + length);
      }
      this.#wake();
    });
    const end = (how: string) => {
      this.#ended = true;
      this.ended ??= how;
      this.#wake();
    };
    socket.on("end", () => end("end"));
    socket.on("close", () => end("close"));
    socket.on("error", (error: Error & { code?: string }) => end(error.code ?? error.message));
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Connects to a TCP or unix stream server. */
  static connect(address: SocketAddress): Promise<RecordClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof address === "string"
        ? net.connect({ path: address })
        : net.connect({ host: address[0], port: address[1] });
      socket.once("connect", () => resolve(new RecordClient(socket)));
      socket.once("error", reject);
    });
  }

  /** Sends raw bytes (framing included). */
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Sends a message as one record of one fragment. */
  sendRecord(message: Uint8Array): void {
    this.send(concat(fragmentHeader(message.length, true), message));
  }

  /** The next reply record, or `null` when the connection ends first; fails after `timeout`. */
  async next(timeout = 5000): Promise<Uint8Array | null> {
    const until = Date.now() + timeout;
    for (;;) {
      const record = this.#records.shift();
      if (record !== undefined) return record;
      if (this.#ended) return null;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no reply record within ${timeout} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with how the server ended the connection (fails after `timeout`). */
  async whenEnded(timeout = 5000): Promise<string> {
    const until = Date.now() + timeout;
    while (!this.#ended) {
      const left = until - Date.now();
      if (left <= 0) throw new Error(`the server kept the connection open for ${timeout} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.ended!;
  }

  /** Closes the client. */
  close(): void {
    this.socket.destroy();
  }
}

/** Sends one record and returns the reply record (or `null` when the server closed). */
export async function streamCall(
  address: SocketAddress,
  message: Uint8Array,
  timeout = 5000,
): Promise<Uint8Array | null> {
  const client = await RecordClient.connect(address);
  try {
    client.sendRecord(message);
    return await client.next(timeout);
  } finally {
    client.close();
  }
}

/** Sends raw bytes (framing included) and returns the first reply record (or `null` when the server closed). */
export async function streamExchange(address: SocketAddress, bytes: Uint8Array): Promise<Uint8Array | null> {
  const client = await RecordClient.connect(address);
  try {
    client.send(bytes);
    return await client.next();
  } finally {
    client.close();
  }
}

/** Sends one datagram and returns the reply datagram, or `null` after `timeout`. */
export function udpCall(address: SocketAddress, message: Uint8Array, timeout = 3000): Promise<Uint8Array | null> {
  if (typeof address === "string") return Promise.reject(new TypeError("udpCall needs [host, port]"));
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(address[0].includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      socket.close();
      resolve(null);
    }, timeout);
    socket.once("message", (reply: Buffer) => {
      clearTimeout(timer);
      socket.close();
      resolve(new Uint8Array(reply));
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.send(message, address[1], address[0]);
  });
}

/** A UDP client on one socket (one source port), as a retransmitting client is. */
export class UdpPeer {
  readonly #socket: dgram.Socket;
  #replies: Uint8Array[] = [];
  #waiter: (() => void) | null = null;

  private constructor(socket: dgram.Socket) {
    this.#socket = socket;
    socket.on("message", (message: Buffer) => {
      this.#replies.push(new Uint8Array(message));
      this.#waiter?.();
    });
  }

  /** Binds a socket on 127.0.0.1. */
  static async open(): Promise<UdpPeer> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return new UdpPeer(socket);
  }

  /** Sends `message` and returns the next reply (or `null` after `timeout`). */
  async call(address: SocketAddress, message: Uint8Array, timeout = 5000): Promise<Uint8Array | null> {
    if (typeof address === "string") throw new TypeError("UdpPeer needs [host, port]");
    this.#socket.send(message, address[1], address[0]);
    const until = Date.now() + timeout;
    while (this.#replies.length === 0) {
      const left = until - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
    return this.#replies.shift()!;
  }

  /** Closes the socket. */
  close(): void {
    this.#socket.close();
  }
}
