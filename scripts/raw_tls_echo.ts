/**
 * The TLS baselines of `scripts/bench.ts`: echo servers written straight on a runtime's TLS API, with no framework,
 * using the test certificate of `tests/fixtures/tls`.
 *
 * `… scripts/raw_tls_echo.ts PORT [callback|awaits|sni|native]`. Prints `listening on 127.0.0.1:PORT`, then echoes until
 * killed.
 * - `callback` (the default): a `node:tls` server that writes each chunk back from its `data` callback, the fastest
 *   shape `node:tls` has, and the engine this library's TLS uses on every runtime.
 * - `awaits`: the same `node:tls` server in the shape of a handler that awaits each read and each write and nothing
 *   else: the bound of this library's async handlers over TLS.
 * - `sni`: the `callback` server with an `SNICallback` (that names no other certificate): the shape this library's TLS
 *   must take on Deno, whose `node:tls` leaves a connection open after a failed handshake without one.
 * - `native`: the runtime's own TLS listener — `Deno.listenTls` (a read/write loop) or `Bun.listen({ tls })` (a data
 *   callback). Node has none besides `node:tls`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { awaitingEcho } from "./raw_echo_shapes.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = here.includes("/dist/") ? join(here, "..", "..") : join(here, "..");
const cert = readFileSync(join(root, "tests", "fixtures", "tls", "server.pem"), "utf8");
const key = readFileSync(join(root, "tests", "fixtures", "tls", "server.key"), "utf8");
const [where = "0", style = "callback"] = process.argv.slice(2);
const port = Number(where);

interface DenoTlsConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  close(): void;
}
interface DenoTls {
  listenTls(options: { hostname: string; port: number; cert: string; key: string }): {
    addr: { port: number };
    [Symbol.asyncIterator](): AsyncIterator<DenoTlsConn>;
  };
}
interface BunTls {
  listen(options: Record<string, unknown>): { port: number };
}
// deno-lint-ignore no-explicit-any
const runtime = globalThis as any;

async function denoEcho(conn: DenoTlsConn): Promise<void> {
  const buffer = new Uint8Array(16384);
  try {
    for (let n; (n = await conn.read(buffer)) !== null;) {
      for (let offset = 0; offset < n;) offset += await conn.write(buffer.subarray(offset, n));
    }
  } catch {
    // A ragged close or a reset: the connection is over.
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

if (style === "native" && runtime.Deno) {
  const listener = (runtime.Deno as DenoTls).listenTls({ hostname: "127.0.0.1", port, cert, key });
  console.log(`listening on 127.0.0.1:${listener.addr.port}`);
  for await (const conn of listener) void denoEcho(conn);
} else if (style === "native" && runtime.Bun) {
  const server = (runtime.Bun as BunTls).listen({
    hostname: "127.0.0.1",
    port,
    tls: { cert, key },
    socket: { data: (socket: { write(data: Uint8Array): number }, data: Uint8Array) => socket.write(data) },
  });
  console.log(`listening on 127.0.0.1:${server.port}`);
} else if (style === "native") {
  console.error("raw_tls_echo: this runtime has no TLS listener of its own besides node:tls (use callback or awaits)");
  process.exit(2);
} else {
  const sni = style === "sni"
    ? { SNICallback: (_name: string, done: (error: Error | null, context?: tls.SecureContext) => void) => done(null) }
    : {};
  const server = tls.createServer({ cert, key, ...sni }, (socket) => {
    if (style === "awaits") {
      const feed = awaitingEcho((data: Uint8Array) => Promise.resolve(socket.write(data)));
      socket.on("data", feed);
      socket.on("close", () => feed(null));
    } else socket.on("data", (chunk) => socket.write(chunk));
    socket.on("error", () => {});
  });
  server.listen(port, "127.0.0.1", () => {
    console.log(`listening on 127.0.0.1:${(server.address() as { port: number }).port}`);
  });
}
