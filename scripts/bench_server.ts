/**
 * The server under test of `scripts/bench.ts`: this library in one mode, on one transport, with one handler.
 *
 * `… scripts/bench_server.ts MODE TRANSPORT HANDLER ADDRESS` — MODE sync|async|threading|forking|pool1|pool2,
 * TRANSPORT tcp|udp|unix|tls, HANDLER echo|cpu|spin|proxy|protocol|lines, ADDRESS a port on 127.0.0.1 or a unix path.
 * Prints `listening on ADDRESS`. `protocol` is the echo as a `StreamProtocol` (for UDP: one `DatagramProtocol` on a
 * `UDPProtocolServer`, whatever the mode), `lines` the line echo as a `LineReceiver`, `spin` the echo after 50 µs of
 * CPU per line, `proxy` the echo behind a PROXY protocol header (v1 or v2). `poolN` is a `WorkerPool` of N workers
 * (each an async server). `tls` is TCP with the `tls` option and the test certificate of `tests/fixtures/tls`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as sockserve from "../mod.ts";
import { DatagramEcho, DatagramProtocolEcho, LineEcho, ProtocolEcho } from "../examples/echo_handlers.ts";
import { CpuHash, LineReceiverEcho, Spin50 } from "./bench_handlers.ts";

const [mode = "async", transport = "tcp", handler = "echo", where = "0"] = process.argv.slice(2);
const pool = /^pool(\d+)$/.exec(mode);
const prefix = pool !== null ? "Async" : { sync: "", async: "Async", threading: "Threading", forking: "Forking" }[mode];
const base = { tcp: "TCPServer", tls: "TCPServer", udp: "UDPServer", unix: "UnixStreamServer" }[transport];
// deno-lint-ignore no-explicit-any
const classes = sockserve as Record<string, any>;
// A datagram protocol is one object in the server's thread: the same server in every mode.
const ServerClass = transport === "udp" && handler === "protocol"
  ? classes.UDPProtocolServer
  : classes[`${prefix}${base}`];
if (prefix === undefined || base === undefined || ServerClass === undefined) {
  console.error(`bench_server: no server for mode ${mode} and transport ${transport}`);
  process.exit(2);
}
const STREAM_HANDLERS = {
  echo: LineEcho,
  cpu: CpuHash,
  spin: Spin50,
  proxy: LineEcho,
  protocol: ProtocolEcho,
  lines: LineReceiverEcho,
};
const Handler = transport === "udp"
  ? (handler === "protocol" ? DatagramProtocolEcho : DatagramEcho)
  : STREAM_HANDLERS[handler as keyof typeof STREAM_HANDLERS];
if (Handler === undefined) {
  console.error(`bench_server: no handler ${handler}`);
  process.exit(2);
}
const address = transport === "unix" ? where : ["127.0.0.1", Number(where)];
// Handler errors such as a client reset at the end of a run are expected here; counting them is enough.
let errors = 0;
// Forking: children are reused, so that (after bench.ts's warm-up run) runs measure serving and not process start-up,
// which scripts/bench_forking.ts measures on its own.
const forking = mode === "forking" ? { requestsPerChild: Infinity } : {};
// Node runs this from dist/scripts, where the fixtures are not copied.
const here = fileURLToPath(new URL(".", import.meta.url));
const root = here.includes("/dist/") ? join(here, "..", "..") : join(here, "..");
const fixture = (name: string) => readFileSync(join(root, "tests", "fixtures", "tls", name), "utf8");
const tls = transport === "tls" ? { tls: { cert: fixture("server.pem"), key: fixture("server.key") } } : {};
const proxy = handler === "proxy" ? { proxyProtocol: { versions: "any" } } : {};
const server = pool !== null
  ? new sockserve.WorkerPool(address as never, Handler as never, {
    workers: Number(pool[1]),
    type: transport === "udp" ? "datagram" : "stream",
    requestQueueSize: 4096,
    drainTimeout: 1000,
    serverOptions: proxy,
  })
  : new ServerClass(address, Handler, { requestQueueSize: 4096, drainTimeout: 1000, ...forking, ...proxy, ...tls });
// In a pool, errors are the workers' (on their stderr); here the count is the server's.
(server as { handleError?: unknown }).handleError = () => void errors++;
await server.listen();
console.log(`listening on ${sockserve.formatAddress(server.serverAddress)}`);
const stop = () => void server.shutdown();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
await server.serveForever();
await server.serverClose();
process.exit(0);
