/**
 * What a handler module needs, and nothing else: the request-handler classes, the reader and writers they hand out,
 * the errors they throw and the types they mention. No server and no runtime adapter comes with it.
 *
 * This entrypoint is for the modules that worker threads and child processes import (handlers of the threading and
 * forking servers). Each worker and each child imports its handler module anew; importing it from here instead of
 * the main entrypoint spares every one of them loading the three runtime adapters and the `node:` modules they use
 * (tens of milliseconds per child process, which matters most with a fresh child per request). The classes are the
 * same objects as those the main entrypoint exports, so a server accepts them alike.
 *
 * @example A handler module for worker threads or child processes
 * ```ts
 * import { StreamRequestHandler } from "@sockserve/sockserve/handlers";
 *
 * export class Upper extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url; // where workers and children import it from
 *
 *   override async handle(): Promise<void> {
 *     for await (const line of this.rfile) await this.wfile.write(new TextDecoder().decode(line).toUpperCase());
 *   }
 * }
 * ```
 *
 * @module
 */
export {
  BaseRequestHandler,
  type HandleEnding,
  type RequestHandler,
  type RequestHandlerClass,
  runHandler,
} from "./src/base_request_handler.ts";
export { StreamRequestHandler } from "./src/stream_request_handler.ts";
export { type DatagramRequest, DatagramRequestHandler, NoClientAddressError } from "./src/datagram_request_handler.ts";
export { type BytesLike, Connection, type TlsUpgrade } from "./src/connection.ts";
export { BufferedReader, DEFAULT_MAX_LINE_LENGTH, type FlowControl } from "./src/buffered_reader.ts";
export { SocketWriter } from "./src/socket_writer.ts";
export { StreamProtocol } from "./src/protocol/stream_protocol.ts";
export { LineReceiver } from "./src/protocol/line_receiver.ts";
export { DatagramProtocol, type DatagramProtocolClass, DatagramTransport } from "./src/protocol/datagram_protocol.ts";
export {
  DEFAULT_MAX_MESSAGE_LENGTH,
  LengthPrefixedReceiver,
  MessageTooLongError,
} from "./src/protocol/length_prefixed_receiver.ts";
export { type StreamProtocolCallbacks, StreamTransport } from "./src/protocol/stream_transport.ts";
export { BytesWriter } from "./src/bytes_writer.ts";
export { formatAddress } from "./src/address.ts";
export { ProxyProtocolError, type ProxyProtocolErrorCode } from "./src/proxy/errors.ts";
export {
  PROXY_TLV,
  type ProxyHeader,
  type ProxySslInfo,
  type ProxyTlv,
  type ProxyTransportProtocol,
  type ProxyVersion,
} from "./src/proxy/header.ts";
export type { ThreadingServerView } from "./src/threading/server_view.ts";
export type { ForkedServerView } from "./src/forking/server_view.ts";
export {
  AddressInUseError,
  ChildProcessError,
  ConnectionLimitError,
  DatagramTooLargeError,
  ExitInWorkerError,
  HandlerLoadError,
  LineTooLongError,
  ServerStateError,
  SocketTimeoutError,
  UnsupportedError,
  WorkerExitedError,
  WorkerFaultError,
} from "./src/errors.ts";
export { StartTlsError, TlsConfigError, TlsHandshakeError } from "./src/tls/errors.ts";
export type { DistinguishedName, PeerCertificate, TlsInfo } from "./src/tls/info.ts";
export type {
  ClientCertificates,
  PemInput,
  TlsCertificate,
  TlsCertificateConfig,
  TlsConfig,
  TlsMinVersion,
  TlsOptions,
} from "./src/tls/options.ts";
export type {
  Datagram,
  DatagramSocket,
  InetAddress,
  SocketAddress,
  StreamSocket,
  StreamSocketEvents,
  UnixAddress,
} from "./src/transport.ts";
// XDR (RFC 4506): schema builders and encode/decode, as the `xdr` namespace; its error class at the top level too.
export * as xdr from "./src/xdr/mod.ts";
export { XdrError } from "./src/xdr/error.ts";
export type { Infer as XdrInfer, XdrType } from "./src/xdr/type.ts";
export { XdrReader } from "./src/xdr/reader.ts";
export { XdrWriter } from "./src/xdr/writer.ts";
// ONC RPC (RFC 5531): programs, handlers, messages, errors.
export {
  ACCEPT_STAT,
  AUTH_FLAVOR,
  AUTH_STAT,
  MAX_AUTH_BYTES,
  MAX_UDP_REPLY_IPV4,
  MAX_UDP_REPLY_IPV6,
  MSG_TYPE,
  REJECT_STAT,
  REPLY_STAT,
  RPC_VERSION,
} from "./src/rpc/constants.ts";
export { RecordError, RpcError, type RpcErrorKind } from "./src/rpc/errors.ts";
export {
  AUTH_NONE,
  AUTH_SYS_PARMS,
  type AuthSys,
  authSys,
  MAX_AUTH_SYS_GIDS,
  MAX_MACHINE_NAME,
  type OpaqueAuth,
  parseAuthSys,
} from "./src/rpc/auth.ts";
export {
  defineProgram,
  implement,
  type Implementation,
  type ProcedureFunction,
  type ProcedureSpec,
  type ProgramSpec,
  type RpcCallContext,
  type RpcProgram,
  type ServedProcedure,
  type VersionSpec,
} from "./src/rpc/program.ts";
export { Dispatcher, type DispatchOptions, type DispatchResult } from "./src/rpc/dispatch.ts";
export {
  acceptedReply,
  type CallHeader,
  encodeCall,
  errorReply,
  finishMessage,
  parseCall,
  type ParsedCall,
  type ParsedReply,
  parseReply,
} from "./src/rpc/message.ts";
export {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_RECORD_SIZE,
  DEFAULT_RECORD_LIMITS,
  DEFAULT_RECORD_TIMEOUT,
  frameRecord,
  type RecordLimits,
} from "./src/rpc/record.ts";
export { readRecord } from "./src/rpc/record_framer.ts";
export { dispatcherOf, RpcDatagramHandler, type RpcHandlerClass, RpcStreamHandler } from "./src/rpc/handlers.ts";
