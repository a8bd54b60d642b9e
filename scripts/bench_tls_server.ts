/**
 * The TLS servers of `scripts/bench_tls.ts`, on the runtime running this script: `library` (this library's
 * `AsyncTCPServer` with the `tls` option and the echo example's line handler), `raw` (a bare `node:tls` server echoing
 * each chunk from its callback) and `native` (the runtime's own TLS listener: `Deno.listenTls` or `Bun.listen`).
 * All use the test certificate of tests/fixtures/tls. Prints `listening on 127.0.0.1:PORT`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { AsyncTCPServer, formatAddress } from "../mod.ts";
import { LineEcho } from "../examples/echo_handlers.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = here.includes("/dist/") ? join(here, "..", "..") : join(here, "..");
const cert = readFileSync(join(root, "tests", "fixtures", "tls", "server.pem"), "utf8");
const key = readFileSync(join(root, "tests", "fixtures", "tls", "server.key"), "utf8");
const kind = process.argv[2] ?? "library";

interface DenoTls {
  listenTls(options: { hostname: string; port: number; cert: string; key: string }): {
    addr: { port: number };
    [Symbol.asyncIterator](): AsyncIterator<
      { read(buffer: Uint8Array): Promise<number | null>; write(data: Uint8Array): Promise<number>; close(): void }
    >;
  };
}
interface BunTls {
  listen(options: Record<string, unknown>): { port: number };
}

if (kind === "library") {
  const server = new AsyncTCPServer(["127.0.0.1", 0], LineEcho, { tls: { cert, key } });
  await server.listen();
  console.log(`listening on ${formatAddress(server.serverAddress)}`);
  await server.serveForever();
} else if (kind === "raw") {
  const server = tls.createServer({ cert, key }, (socket) => {
    socket.on("data", (chunk) => socket.write(chunk));
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number };
    console.log(`listening on 127.0.0.1:${address.port}`);
  });
} else if (kind === "native" && "Deno" in globalThis) {
  const deno = (globalThis as unknown as { Deno: DenoTls }).Deno;
  const listener = deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  console.log(`listening on 127.0.0.1:${listener.addr.port}`);
  for await (const conn of listener) {
    void (async () => {
      const buffer = new Uint8Array(16384);
      try {
        for (let n; (n = await conn.read(buffer)) !== null;) await conn.write(buffer.subarray(0, n));
      } catch {
        // A ragged close or a reset: the connection is over.
      }
      conn.close();
    })();
  }
} else if (kind === "native" && "Bun" in globalThis) {
  const bun = (globalThis as unknown as { Bun: BunTls }).Bun;
  const server = bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert, key },
    socket: {
      data(socket: { write(data: Uint8Array): number }, data: Uint8Array) {
        socket.write(data);
      },
    },
  });
  console.log(`listening on 127.0.0.1:${server.port}`);
} else {
  console.error(`bench_tls_server: no ${kind} server on this runtime (library, raw, or native on Deno and Bun)`);
  process.exit(2);
}
