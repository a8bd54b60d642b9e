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
 * - XDR (RFC 4506): the {@link xdr} namespace of schema builders with typed `encode` and `decode`, usable on its own.
 * - ONC RPC (RFC 5531): {@link defineProgram} and {@link implement}, the handlers {@link RpcStreamHandler} and
 *   {@link RpcDatagramHandler}, and servers in every mode ({@link RpcTCPServer}, {@link AsyncRpcUDPServer},
 *   {@link ThreadingRpcTCPServer} …).
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
  type ForkingOptions,
  type ForkingServer,
} from "./src/forking/options.ts";
export { ForkingMixIn } from "./src/mixins/forking.ts";
export {
  ForkingTCPServer,
  ForkingTCPServerBase,
  ForkingUDPServer,
  ForkingUDPServerBase,
  ForkingUnixDatagramServer,
  ForkingUnixDatagramServerBase,
  ForkingUnixStreamServer,
  ForkingUnixStreamServerBase,
} from "./src/mixins/forking_servers.ts";
export type { ServerClass } from "./src/mixins/server_class.ts";
export type { PoolSpread, WorkerPoolOptions } from "./src/pool/options.ts";
export { WorkerPool } from "./src/pool/worker_pool.ts";
export { LISTEN_FDS_START, listenFdsFromEnvironment } from "./src/pool/socket_activation.ts";
export {
  DatagramProtocolMixIn,
  type DatagramProtocolServer,
  UDPProtocolServer,
  UDPProtocolServerBase,
  UnixDatagramProtocolServer,
  UnixDatagramProtocolServerBase,
} from "./src/protocol/datagram_protocol_server.ts";
export type { ConnectionStage } from "./src/preamble.ts";
export {
  checkProxyProtocol,
  DEFAULT_HEADER_TIMEOUT,
  type ProxyProtocolOptions,
  type ProxyProtocolSettings,
  readProxyHeader,
} from "./src/proxy/options.ts";
export {
  type CheckedParseOptions,
  checkParseOptions,
  DEFAULT_MAX_TLV_BYTES,
  examineProxyHeader,
  parseProxyHeader,
  type ProxyExamination,
  ProxyHeaderParser,
  type ProxyParseOptions,
  type ProxyParseResult,
} from "./src/proxy/parser.ts";
export { encodeProxyHeader, type ProxyHeaderInit, type ProxySslInit } from "./src/proxy/encoder.ts";
export { type TrustedPeerTest, trustedProxies } from "./src/proxy/trusted.ts";
export { crc32c } from "./src/proxy/crc32c.ts";
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
  SecuredSocket,
  StreamConnectOptions,
  StreamListener,
  StreamListenOptions,
  TlsContext,
  TlsSupport,
  UnixPathState,
  WorkerFault,
  WorkerFaultHooks,
  WorkerHandle,
  WorkerStartOptions,
} from "./src/transport.ts";
// ONC RPC servers (the handlers, programs, XDR and errors come with handlers.ts above).
export {
  AsyncRpcTCPServer,
  AsyncRpcTCPServerBase,
  AsyncRpcUDPServer,
  AsyncRpcUDPServerBase,
  AsyncRpcUnixStreamServer,
  AsyncRpcUnixStreamServerBase,
  ForkingRpcTCPServer,
  ForkingRpcTCPServerBase,
  ForkingRpcUDPServer,
  ForkingRpcUDPServerBase,
  ForkingRpcUnixStreamServer,
  ForkingRpcUnixStreamServerBase,
  type RpcDatagramHandlerArgument,
  RpcRegistrationError,
  type RpcServer,
  RpcServerMixIn,
  type RpcServerOptions,
  type RpcStreamHandlerArgument,
  RpcTCPServer,
  RpcTCPServerBase,
  RpcUDPServer,
  RpcUDPServerBase,
  RpcUnixStreamServer,
  RpcUnixStreamServerBase,
  ThreadingRpcTCPServer,
  ThreadingRpcTCPServerBase,
  ThreadingRpcUDPServer,
  ThreadingRpcUDPServerBase,
  ThreadingRpcUnixStreamServer,
  ThreadingRpcUnixStreamServerBase,
} from "./src/rpc/servers.ts";
export {
  type RpcCallOptions,
  RpcClient,
  type RpcClientOptions,
  type RpcClientTarget,
  type RpcStub,
} from "./src/rpc/client.ts";
export {
  IPPROTO,
  isLocalCaller,
  PMAP_LIST,
  PMAP_MAPPING,
  PMAP_PORT,
  PMAP_PROG,
  PMAP_VERS,
  pmapDump,
  pmapGetPort,
  type PmapMapping,
  pmapSet,
  pmapUnset,
  Portmap,
  type PortmapperOptions,
  portmapProgram,
  type PortmapSpec,
  PortmapTable,
} from "./src/rpc/portmap.ts";
export { PortmapServer, type PortmapServerOptions } from "./src/rpc/portmap_server.ts";
export {
  DuplicateRequestCache,
  type DuplicateRequestCacheOptions,
  type DuplicateRequestCacheStats,
  withDuplicateRequestCache,
} from "./src/rpc/drc.ts";
export { detectRuntime, runtimeName } from "./runtimes/detect.ts";
export { denoRuntime } from "./runtimes/deno.ts";
export { bunRuntime } from "./runtimes/bun.ts";
export { nodeRuntime } from "./runtimes/node.ts";
