/**
 * The Deno adapter's datagram socket: `Deno.listenDatagram` for UDP and unix datagrams (they need `--unstable-net`).
 *
 * @module
 */
import { formatAddress } from "../src/address.ts";
import { UnsupportedError } from "../src/errors.ts";
import type { Datagram, DatagramListenOptions, DatagramSocket, SocketAddress } from "../src/transport.ts";
import { copyOut } from "../src/byte_pool.ts";
import { bindError } from "./_files.ts";
import { deno, type DenoAddr, type DenoDatagramConn, toAddress } from "./_deno_api.ts";

interface Waker {
  readonly conn: DenoDatagramConn;
  readonly path: string;
  /** A temporary directory to remove at close, where there are no abstract socket names (not Linux). */
  readonly directory: string | undefined;
}

const NO_BYTES = new Uint8Array(0);

/** A UDP or unix datagram socket on `Deno.listenDatagram` (needs `--unstable-net`). */
export class DenoDatagramSocket implements DatagramSocket {
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
