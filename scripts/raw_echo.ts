/**
 * The baseline of the benchmarks: an echo server written straight on the runtime's own socket API, with no framework.
 *
 * `deno run -A scripts/raw_echo.ts tcp|udp|unix ADDRESS [serial|awaits|owned|proxy]` · `bun scripts/raw_echo.ts …` ·
 * `node dist/scripts/raw_echo.js …`. ADDRESS is a port (on 127.0.0.1) or a unix path. Prints `listening on ADDRESS`,
 * then echoes until killed. `serial` serves stream connections one at a time, each until its client closes (the
 * others wait, unread): the raw counterpart of a synchronous server, and so the bound of this library's sync mode.
 * `awaits` (Bun and Node) echoes in the shape of a handler that awaits each read and each write, with nothing else:
 * the bound of this library's async mode on those runtimes, whose raw servers answer from the socket's callback.
 * Deno's raw server has that shape already (its socket API is promise-based), so there `awaits` changes nothing.
 * `owned` (Deno, streams) is the raw loop in the shape of the library's Deno adapter: each read's bytes are copied
 * into a shared slab (they become the consumer's own), and the echo is written without awaiting it, reading on: the
 * bound of this library's protocol handlers on Deno, which cannot reuse a buffer the consumer may keep.
 * `proxy` (streams): each connection's first chunk starts with a PROXY protocol v1 line, which is read and checked
 * (`proxyLineLength`) before the rest is echoed: the bound of the library's `proxyProtocol` on connect-per-request.
 *
 * @module
 */
import dgram from "node:dgram";
import net from "node:net";
import process from "node:process";
import { awaitingEcho, proxyLineLength, serialTurns } from "./raw_echo_shapes.ts";

// deno-lint-ignore no-explicit-any
const runtime = globalThis as any;
const [transport = "tcp", where = "0", style = "concurrent"] = process.argv.slice(2);
const serial = style === "serial";
const awaits = style === "awaits";
/** `proxy`: each stream connection starts with a PROXY v1 line, read and checked, then echoes the rest. */
const proxy = style === "proxy";
const port = Number(where);

async function denoEcho(
  conn: { read(b: Uint8Array): Promise<number | null>; write(b: Uint8Array): Promise<number>; close(): void },
) {
  const buffer = new Uint8Array(65536);
  let headerRead = !proxy;
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      let offset = 0;
      if (!headerRead) {
        headerRead = true;
        if ((offset = proxyLineLength(buffer.subarray(0, n))) < 0) break;
      }
      while (offset < n) offset += await conn.write(buffer.subarray(offset, n));
    }
  } catch {
    // client went away
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** The raw loop in the library's Deno adapter's shape (see `owned` above). */
async function denoOwnedEcho(
  conn: { read(b: Uint8Array): Promise<number | null>; write(b: Uint8Array): Promise<number>; close(): void },
) {
  const buffer = new Uint8Array(256);
  const failed = () => {};
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      conn.write(ownCopy(buffer, n)).then(undefined, failed);
    }
  } catch {
    // client went away
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

let slab = new Uint8Array(16 * 1024);
let slabUsed = 0;

function ownCopy(source: Uint8Array, size: number): Uint8Array {
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(16 * 1024);
    slabUsed = 0;
  }
  const start = slabUsed;
  for (let i = 0; i < size; i++) slab[start + i] = source[i];
  slabUsed += size;
  return slab.subarray(start, slabUsed);
}

if (runtime.Deno) {
  const Deno = runtime.Deno;
  if (transport === "udp") {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
    console.log(`listening on 127.0.0.1:${socket.addr.port}`);
    const buffer = new Uint8Array(65536);
    for (;;) {
      const [data, from] = await socket.receive(buffer);
      await socket.send(data, from);
    }
  } else {
    const listener = transport === "unix"
      ? Deno.listen({ transport: "unix", path: where })
      : Deno.listen({ hostname: "127.0.0.1", port });
    console.log(`listening on ${transport === "unix" ? where : `127.0.0.1:${listener.addr.port}`}`);
    for await (const conn of listener) {
      if (serial) await denoEcho(conn);
      else if (style === "owned") void denoOwnedEcho(conn);
      else void denoEcho(conn);
    }
  }
} else if (runtime.Bun) {
  const Bun = runtime.Bun;
  if (transport === "udp") {
    type Sender = { send(d: Uint8Array, p: number, a: string): boolean };
    type Received = [Sender, Uint8Array, number, string];
    const feed = awaits ? awaitingEcho(([s, d, p, a]: Received) => Promise.resolve(s.send(d, p, a))) : null;
    const socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: feed
          ? (s: Sender, d: Uint8Array, p: number, a: string) => feed([s, d, p, a])
          : (s: Sender, d: Uint8Array, p: number, a: string) => s.send(d, p, a),
      },
    });
    console.log(`listening on 127.0.0.1:${socket.port}`);
  } else {
    type BunSocket = {
      write(d: Uint8Array): number;
      pause(): void;
      resume(): void;
      data?: (d: Uint8Array | null) => void;
    };
    const pending = new Map<unknown, Uint8Array[]>();
    const headerRead = new WeakSet<BunSocket>();
    const turns = serialTurns<BunSocket>();
    const send = (s: BunSocket, d: Uint8Array) => {
      const queue = pending.get(s);
      if (queue) return void queue.push(d);
      const written = s.write(d);
      if (written < d.length) pending.set(s, [d.subarray(Math.max(written, 0))]);
    };
    const socket = {
      open(s: BunSocket) {
        if (serial) turns.arrive(s);
        if (awaits) s.data = awaitingEcho((d: Uint8Array) => Promise.resolve(send(s, d)));
      },
      data(s: BunSocket, d: Uint8Array) {
        if (proxy && !headerRead.has(s)) {
          headerRead.add(s);
          const length = proxyLineLength(d);
          if (length < 0) return void (s as unknown as { end(): void }).end();
          if (length === d.length) return;
          d = d.subarray(length);
        }
        if (s.data) s.data(d);
        else send(s, d);
      },
      drain(s: { write(d: Uint8Array): number }) {
        const queue = pending.get(s);
        while (queue && queue.length) {
          const head = queue[0];
          const written = s.write(head);
          if (written < head.length) return void (queue[0] = head.subarray(Math.max(written, 0)));
          queue.shift();
        }
        pending.delete(s);
      },
      close(s: BunSocket) {
        pending.delete(s);
        s.data?.(null);
        if (serial) turns.leave(s);
      },
    };
    const listener = transport === "unix"
      ? Bun.listen({ unix: where, socket })
      : Bun.listen({ hostname: "127.0.0.1", port, socket });
    console.log(`listening on ${transport === "unix" ? where : `127.0.0.1:${listener.port}`}`);
  }
} else if (transport === "udp") {
  const socket = dgram.createSocket("udp4");
  if (awaits) {
    // The send's callback settles the echo, as a handler's awaited reply does (and must, to hear of a failed send).
    const feed = awaitingEcho(([message, info]: [Uint8Array, dgram.RemoteInfo]) =>
      new Promise<void>((resolve) => socket.send(message, info.port, info.address, () => resolve()))
    );
    socket.on("message", (message, info) => feed([message, info]));
  } else socket.on("message", (message, info) => socket.send(message, info.port, info.address));
  socket.bind(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${socket.address().port}`));
} else {
  const turns = serialTurns<net.Socket>();
  const server = net.createServer((socket) => {
    if (awaits) {
      const feed = awaitingEcho((data: Uint8Array) => Promise.resolve(socket.write(data)));
      socket.on("data", feed);
      socket.on("close", () => feed(null));
    } else if (proxy) {
      let headerRead = false;
      socket.on("data", (data) => {
        if (!headerRead) {
          headerRead = true;
          const length = proxyLineLength(data);
          if (length < 0) return void socket.destroy();
          if (length === data.length) return;
          data = data.subarray(length);
        }
        socket.write(data);
      });
    } else socket.on("data", (data) => socket.write(data));
    socket.on("error", () => {});
    if (serial) {
      turns.arrive(socket);
      socket.on("close", () => turns.leave(socket));
    }
  });
  const ready = () => {
    const address = server.address();
    console.log(`listening on ${typeof address === "string" ? address : `127.0.0.1:${address?.port}`}`);
  };
  if (transport === "unix") server.listen(where, ready);
  else server.listen(port, "127.0.0.1", ready);
}
