/**
 * Python's `socketserver` for Deno, Bun and Node: server classes (TCP, UDP, unix stream, unix datagram) that take
 * requests and hand each to a request-handler class, with mix-ins that choose how requests run.
 *
 * - Servers: {@link TCPServer}, {@link UDPServer}, {@link UnixStreamServer}, {@link UnixDatagramServer}, and
 *   {@link BaseServer} for requests from any other source.
 * - How requests run: one at a time (the servers above, as Python's), concurrently on the event loop
 *   ({@link AsyncTCPServer} and the other `Async*` servers), on worker threads ({@link ThreadingTCPServer} …), or in
 *   child processes ({@link ForkingTCPServer} …). Each mode is also a mix-in for a server class of your own.
 * - Handlers: {@link StreamRequestHandler} (`rfile` and `wfile` over a connection), {@link DatagramRequestHandler}
 *   (one datagram in, one out), {@link BaseRequestHandler}. A module holding handlers for workers or child processes
 *   can import them from the lighter `@sockserve/sockserve/handlers` entrypoint.
 *
 * The runtime (Deno, Bun or Node) is detected when this module loads; every server also takes an explicit `runtime`
 * option, such as {@link nodeRuntime} to use `node:net` on any of the three.
 *
 * @example A line echo server on a free port
 * ```ts
 * import { AsyncTCPServer, StreamRequestHandler } from "@sockserve/sockserve";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 *
 * await using server = await new AsyncTCPServer(["127.0.0.1", 0], Echo).listen();
 * console.log("listening on", server.serverAddress);
 * await server.serveForever(); // until server.shutdown() or the `signal` option stops it
 * ```
 *
 * @module
 */
import { setDefaultRuntime } from "./src/default_runtime.ts";
import { detectRuntime } from "./runtimes/detect.ts";

setDefaultRuntime(detectRuntime());

export { BaseServer, type BaseServerOptions, type RequestEntry } from "./src/base_server.ts";
export { DEFAULT_LINE_TIMEOUT, TCPServer, type TCPServerOptions, UnixStreamServer } from "./src/tcp_server.ts";
export { UDPServer, type UDPServerOptions, UnixDatagramServer } from "./src/udp_server.ts";
export {
  AsyncMixIn,
  type AsyncOptions,
  type AsyncServer,
  AsyncTCPServer,
  AsyncTCPServerBase,
  AsyncUDPServer,
  AsyncUDPServerBase,
  AsyncUnixDatagramServer,
  AsyncUnixDatagramServerBase,
  AsyncUnixStreamServer,
  AsyncUnixStreamServerBase,
} from "./src/mixins/async.ts";
export {
  DEFAULT_MAX_REQUESTS_PER_WORKER,
  DEFAULT_WORKER_IDLE_TIMEOUT,
  ThreadingMixIn,
  type ThreadingOptions,
  type ThreadingServer,
  ThreadingTCPServer,
  ThreadingTCPServerBase,
  ThreadingUDPServer,
  ThreadingUDPServerBase,
  ThreadingUnixDatagramServer,
  ThreadingUnixDatagramServerBase,
  ThreadingUnixStreamServer,
  ThreadingUnixStreamServerBase,
} from "./src/mixins/threading.ts";
export {
  type CollectChildrenOptions,
  DEFAULT_MAX_CHILDREN,
  DEFAULT_SPARE_CHILDREN,
  ForkingMixIn,
  type ForkingOptions,
  type ForkingServer,
  ForkingTCPServer,
  ForkingTCPServerBase,
  ForkingUDPServer,
  ForkingUDPServerBase,
  ForkingUnixDatagramServer,
  ForkingUnixDatagramServerBase,
  ForkingUnixStreamServer,
  ForkingUnixStreamServerBase,
} from "./src/mixins/forking.ts";
export type { ServerClass } from "./src/mixins/server_class.ts";
// Handlers, their reader and writers, errors and transport types: the lean entrypoint, re-exported whole.
export * from "./handlers.ts";
export { type HandlerLocation, handlerLocation, loadHandlerClass, pickHandlerClass } from "./src/handler_location.ts";
export { checkInetAddress, checkUnixPath, MAX_UNIX_PATH_BYTES } from "./src/address.ts";
export { getDefaultRuntime, setDefaultRuntime } from "./src/default_runtime.ts";
export { isClientError } from "./src/client_errors.ts";
export type {
  ChildExit,
  ChildProcess,
  ChildProcesses,
  ChildProcessEvents,
  ChildStartOptions,
  DatagramListenOptions,
  MessagePortLike,
  ParentChannel,
  ParentChannelEvents,
  ResolvedHost,
  Runtime,
  StreamListener,
  StreamListenOptions,
  UnixPathState,
  WorkerHandle,
  WorkerStartOptions,
} from "./src/transport.ts";
export { detectRuntime, runtimeName } from "./runtimes/detect.ts";
export { denoRuntime } from "./runtimes/deno.ts";
export { bunRuntime } from "./runtimes/bun.ts";
export { nodeRuntime } from "./runtimes/node.ts";
