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
  type RequestHandler,
  type RequestHandlerClass,
  runHandler,
} from "./src/base_request_handler.ts";
export { StreamRequestHandler } from "./src/stream_request_handler.ts";
export { type DatagramRequest, DatagramRequestHandler, NoClientAddressError } from "./src/datagram_request_handler.ts";
export { type BytesLike, Connection } from "./src/connection.ts";
export { BufferedReader, DEFAULT_MAX_LINE_LENGTH, type FlowControl } from "./src/buffered_reader.ts";
export { SocketWriter } from "./src/socket_writer.ts";
export { BytesWriter } from "./src/bytes_writer.ts";
export { formatAddress } from "./src/address.ts";
export type { ThreadingServerView } from "./src/threading/server_view.ts";
export type { ForkedServerView } from "./src/forking/server_view.ts";
export {
  AddressInUseError,
  ChildProcessError,
  ConnectionLimitError,
  DatagramTooLargeError,
  HandlerLoadError,
  LineTooLongError,
  ServerStateError,
  SocketTimeoutError,
  UnsupportedError,
  WorkerExitedError,
} from "./src/errors.ts";
export type {
  Datagram,
  DatagramSocket,
  InetAddress,
  SocketAddress,
  StreamSocket,
  StreamSocketEvents,
  UnixAddress,
} from "./src/transport.ts";
