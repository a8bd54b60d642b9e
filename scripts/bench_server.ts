/**
 * The server under test of `scripts/bench.ts`: this library in one mode, on one transport, with one handler.
 *
 * `… scripts/bench_server.ts MODE TRANSPORT HANDLER ADDRESS` — MODE sync|async|threading|forking, TRANSPORT
 * tcp|udp|unix|tls, HANDLER echo|cpu|protocol|lines, ADDRESS a port on 127.0.0.1 or a unix path. Prints `listening on
 * ADDRESS`. `protocol` is the echo as a `StreamProtocol` (for UDP: one `DatagramProtocol` on a `UDPProtocolServer`,
 * whatever the mode), `lines` the line echo as a `LineReceiver`. `tls` is TCP with the `tls` option and the test
 * certificate of `tests/fixtures/tls`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as sockserve from "../mod.ts";
import { DatagramEcho, DatagramProtocolEcho, LineEcho, ProtocolEcho } from "../examples/echo_handlers.ts";
import { CpuHash, LineReceiverEcho } from "./bench_handlers.ts";

const [mode = "async", transport = "tcp", handler = "echo", where = "0"] = process.argv.slice(2);
const prefix = { sync: "", async: "Async", threading: "Threading", forking: "Forking" }[mode];
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
const STREAM_HANDLERS = { echo: LineEcho, cpu: CpuHash, protocol: ProtocolEcho, lines: LineReceiverEcho };
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
const server = new ServerClass(address, Handler, { requestQueueSize: 4096, drainTimeout: 1000, ...forking, ...tls });
server.handleError = () => void errors++;
await server.listen();
console.log(`listening on ${sockserve.formatAddress(server.serverAddress)}`);
const stop = () => void server.shutdown();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
await server.serveForever();
await server.serverClose();
process.exit(0);
