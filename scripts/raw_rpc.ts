/**
 * The bound of the RPC benchmark: a calc.x server written straight on the runtime's own socket API, with no library.
 * It answers NULL and ADD only, assumes well-formed calls, and per record (TCP) or datagram (UDP) writes one
 * pre-encoded reply with the call's XID (and, for ADD, the sum) patched in: what any RPC server must do at least.
 *
 * `deno run -A scripts/raw_rpc.ts tcp|udp [PORT]` · `bun scripts/raw_rpc.ts …` · `node dist/scripts/raw_rpc.js …`.
 * Prints `listening on 127.0.0.1:PORT`, then serves until killed. Deno's server awaits each read and each write (its
 * socket API is promise-based); Bun's and Node's answer from the socket's data callback.
 *
 * @module
 */
import dgram from "node:dgram";
import net from "node:net";
import process from "node:process";

// deno-lint-ignore no-explicit-any
const runtime = globalThis as any;
const [transport = "tcp", where = "0"] = process.argv.slice(2);
const port = Number(where);
const framed = transport !== "udp";

/** The replies, pre-encoded (MSG_ACCEPTED, AUTH_NONE verifier, SUCCESS), with a record mark over TCP. */
const HEAD = framed ? 4 : 0;
const nullReply = new Uint8Array(HEAD + 24);
const addReply = new Uint8Array(HEAD + 28);
for (const reply of [nullReply, addReply]) {
  const view = new DataView(reply.buffer);
  if (framed) view.setUint32(0, (0x8000_0000 | (reply.length - 4)) >>> 0);
  view.setUint32(HEAD + 4, 1); // REPLY; reply_stat, verifier and accept_stat stay 0
}
const nullView = new DataView(nullReply.buffer);
const addView = new DataView(addReply.buffer);

/** The reply to the call message at `bytes[start, end)` (valid until the next call). */
function answer(bytes: Uint8Array, start: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + start);
  const xid = view.getUint32(0);
  if (view.getUint32(20) === 0) {
    nullView.setUint32(HEAD, xid);
    return nullReply;
  }
  const cred = view.getUint32(28);
  const args = 32 + ((cred + 3) & ~3);
  const verf = view.getUint32(args + 4);
  const at = args + 8 + ((verf + 3) & ~3);
  addView.setUint32(HEAD, xid);
  addView.setInt32(HEAD + 24, (view.getInt32(at) + view.getInt32(at + 4)) | 0);
  return addReply;
}

/** Splits a byte stream into records (one fragment each) and answers them: feed it each chunk read. */
function recordAnswerer(send: (reply: Uint8Array) => void): (chunk: Uint8Array) => void {
  let pending: Uint8Array | null = null;
  return (chunk) => {
    let bytes = chunk;
    if (pending !== null) {
      bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
      pending = null;
    }
    let at = 0;
    while (bytes.length - at >= 4) {
      const length = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) & 0x7fff_ffff;
      if (bytes.length - at < 4 + length) break;
      send(answer(bytes, at + 4));
      at += 4 + length;
    }
    if (at < bytes.length) pending = bytes.slice(at);
  };
}

if (runtime.Deno) {
  const Deno = runtime.Deno;
  if (transport === "udp") {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
    console.log(`listening on 127.0.0.1:${socket.addr.port}`);
    const buffer = new Uint8Array(65536);
    for (;;) {
      const [data, from] = await socket.receive(buffer);
      await socket.send(answer(data, 0), from);
    }
  } else {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    console.log(`listening on 127.0.0.1:${listener.addr.port}`);
    for await (const conn of listener) {
      void (async () => {
        const buffer = new Uint8Array(65536);
        const replies: Uint8Array[] = [];
        const feed = recordAnswerer((reply) => replies.push(reply.slice()));
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            feed(buffer.subarray(0, n));
            for (const reply of replies.splice(0)) {
              let offset = 0;
              while (offset < reply.length) offset += await conn.write(reply.subarray(offset));
            }
          }
        } catch {
          // client went away
        }
        try {
          conn.close();
        } catch {
          // already closed
        }
      })();
    }
  }
} else if (runtime.Bun) {
  const Bun = runtime.Bun;
  if (transport === "udp") {
    const socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(s: { send(d: Uint8Array, p: number, a: string): boolean }, d: Uint8Array, p: number, a: string) {
          // Linux hands a pending ICMP error (an earlier reply's client left) to the next send, which then fails
          // without sending: try again, as the library's Bun adapter does.
          for (let attempt = 0; attempt < 4; attempt++) {
            try {
              return void s.send(answer(d, 0), p, a);
            } catch {
              // the next try takes the next pending error
            }
          }
        },
        // Without it, that ICMP error is uncaught.
        error() {},
      },
    });
    console.log(`listening on 127.0.0.1:${socket.port}`);
  } else {
    // The replies are tiny and the client waits for each: a short write does not happen here.
    type BunSocket = { write(d: Uint8Array): number; data?: (chunk: Uint8Array) => void };
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s: BunSocket) {
          s.data = recordAnswerer((reply) => s.write(reply));
        },
        data(s: BunSocket, d: Uint8Array) {
          s.data!(d);
        },
      },
    });
    console.log(`listening on 127.0.0.1:${listener.port}`);
  }
} else if (transport === "udp") {
  const socket = dgram.createSocket("udp4");
  // send() reads its buffer later: each reply gets its own copy.
  socket.on("message", (message, info) => socket.send(answer(message, 0).slice(), info.port, info.address));
  socket.bind(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${socket.address().port}`));
} else {
  const server = net.createServer((socket) => {
    // socket.write may keep the buffer until it is sent: each reply gets its own copy.
    socket.on("data", recordAnswerer((reply) => socket.write(reply.slice())));
    socket.on("error", () => {});
  });
  server.listen(port, "127.0.0.1", () => {
    const address = server.address() as net.AddressInfo;
    console.log(`listening on 127.0.0.1:${address.port}`);
  });
}
