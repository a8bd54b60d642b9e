/**
 * What a protocol handler adds to each echo, in process and without sockets: a fake socket delivers 64-byte chunks
 * by callback, as the runtimes do, and the time per chunk echoed is measured for a raw callback (the shape of
 * `raw_echo.ts`), a `StreamProtocol` and a `LineReceiver`, each on its own `Connection`. On a loaded machine this is
 * the steadier figure: the network benchmark's echo costs several microseconds of system calls per request, so a
 * handler that adds tens of nanoseconds stays within a few percent of raw.
 *
 * `deno run -A scripts/protocol_overhead.ts` · `bun scripts/protocol_overhead.ts` · `node dist/scripts/protocol_overhead.js`
 *
 * @module
 */
import { Connection, LineReceiver, StreamProtocol } from "../mod.ts";
import type { SocketAddress, StreamSocket, StreamSocketEvents } from "../mod.ts";

const CHUNKS = 2_000_000;
const line = new TextEncoder().encode("x".repeat(63) + "\n");

/** A socket whose `write()` only counts, and whose events the loop below fires. */
class FakeSocket implements StreamSocket {
  readonly localAddress: SocketAddress = ["127.0.0.1", 1];
  readonly remoteAddress: SocketAddress = ["127.0.0.1", 2];
  readonly bufferedAmount = 0;
  events: StreamSocketEvents | null = null;
  written = 0;
  attach(events: StreamSocketEvents): void {
    this.events = events;
  }
  pause(): void {}
  resume(): void {}
  write(chunk: Uint8Array): boolean {
    this.written += chunk.length;
    return true;
  }
  closeWrite(): void {}
  close(): void {
    this.events?.close();
  }
  abort(): void {
    this.close();
  }
  setNoDelay(): void {}
}

class Echo extends StreamProtocol {
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

class Lines extends LineReceiver {
  override lineReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

function timed(name: string, deliver: (chunk: Uint8Array) => void, socket: FakeSocket): number {
  for (let i = 0; i < CHUNKS / 10; i++) deliver(line); // warm up the JIT
  socket.written = 0;
  const started = performance.now();
  for (let i = 0; i < CHUNKS; i++) deliver(line);
  const ns = ((performance.now() - started) * 1e6) / CHUNKS;
  if (socket.written !== CHUNKS * line.length) throw new Error(`${name}: wrote ${socket.written} bytes`);
  return ns;
}

function raw(): number {
  const socket = new FakeSocket();
  socket.attach({ data: (chunk) => void socket.write(chunk), end() {}, error() {}, drain() {}, close() {} });
  return timed("raw", (chunk) => socket.events!.data(chunk), socket);
}

function protocol(Kind: typeof Echo | typeof Lines): number {
  const socket = new FakeSocket();
  const handler = new Kind(new Connection(socket), socket.remoteAddress, null);
  handler.setup();
  void handler.handle();
  return timed(Kind.name, (chunk) => socket.events!.data(chunk), socket);
}

const results = { raw: raw(), StreamProtocol: protocol(Echo), LineReceiver: protocol(Lines) };
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
console.log(
  `${runtime}: ns per 64-byte chunk echoed — ` +
    Object.entries(results).map(([name, ns]) => `${name} ${ns.toFixed(1)}`).join(", "),
);
