/**
 * Workers share no memory with the main thread, except what is shared on purpose: a counter in a
 * `SharedArrayBuffer`, incremented with `Atomics` by handlers running in different workers and read by the main
 * thread.
 *
 * ```
 * deno run -A examples/shared_counter.ts | bun examples/shared_counter.ts | node dist/examples/shared_counter.js
 * ```
 *
 * Starts a threading server on a free port, makes 40 requests to it (20 at a time), prints the counter and closes.
 * A plain field (`visitsWithoutSharing = 0`) would not work: each worker gets a copy of the server's fields.
 *
 * @module
 */
import net from "node:net";
import { type SocketAddress, ThreadingTCPServer } from "../mod.ts";
import { CountingHandler } from "./counter_handlers.ts";

/** A threading server whose handlers count visits in shared memory. */
class CountingServer extends ThreadingTCPServer {
  /** Shared with every worker: the handlers' `this.server.visits` is this same memory. */
  visits: Int32Array = new Int32Array(new SharedArrayBuffer(4));
}

function visit(address: SocketAddress): Promise<string> {
  const [host, port] = address as readonly [string, number];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let reply = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (reply += chunk));
    socket.on("end", () => resolve(reply.trim()));
    socket.on("error", reject);
  });
}

const server = await new CountingServer(["127.0.0.1", 0], CountingHandler, { maxWorkers: 2 }).listen();
const serving = server.serveForever();
for (let round = 0; round < 2; round++) {
  const replies = await Promise.all(Array.from({ length: 20 }, () => visit(server.serverAddress)));
  console.log(`round ${round + 1}: ${replies.slice(0, 3).join(", ")}, …`);
}
console.log(`${server.workersStarted} workers counted ${Atomics.load(server.visits, 0)} visits in shared memory`);
await server.shutdown();
await server.serverClose();
await serving;
