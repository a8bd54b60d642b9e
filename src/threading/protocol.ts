/**
 * The messages between the main thread and a threading worker, on the worker's `MessagePort`, and the flow-control
 * numbers both sides share.
 *
 * Requests are multiplexed on the port by `id`. Stream bytes travel as transferred `ArrayBuffer`s under a credit
 * window in each direction: a sender has at most {@link STREAM_WINDOW} bytes (plus one chunk) not yet acknowledged,
 * and the receiver acknowledges bytes only once it has passed them on (to the socket, or to the handler's `rfile`),
 * so a slow side stops the other instead of making it buffer.
 *
 * @module
 */
import type { HandlerLocation } from "../handler_location.ts";
import type { TlsInfo } from "../tls/info.ts";
import type { ProxyHeader } from "../proxy/header.ts";
import type { SocketAddress } from "../transport.ts";
import type { ErrorReport } from "./error_report.ts";

/** Bytes of stream data one side may send before the other acknowledges them, per request and direction. */
export const STREAM_WINDOW: number = 256 * 1024;
/** Largest chunk of stream data in one message. */
export const MAX_CHUNK: number = 64 * 1024;
/** A receiver acknowledges in batches of at least this many bytes, to keep messages few. */
export const ACK_BATCH: number = STREAM_WINDOW / 4;

/** The kind of request a worker is asked to serve, with what it needs to rebuild the request there. */
export type RequestStart =
  | {
    readonly type: "stream";
    readonly id: number;
    readonly handler: HandlerLocation;
    readonly clientAddress: unknown;
    readonly localAddress: SocketAddress;
    readonly remoteAddress: SocketAddress;
    /** What the handshake settled, for a connection secured in the main thread. */
    readonly tls: TlsInfo | null;
    /** Whether the handler may upgrade the connection with `startTls()`. */
    readonly startTls: boolean;
    /** The connection's PROXY protocol header, read in the main thread. */
    readonly proxyHeader: ProxyHeader | null;
  }
  | {
    readonly type: "datagram";
    readonly id: number;
    readonly handler: HandlerLocation;
    readonly clientAddress: SocketAddress | null;
    readonly data: Uint8Array;
    readonly socketAddress: SocketAddress;
  }
  | {
    readonly type: "value";
    readonly id: number;
    readonly handler: HandlerLocation;
    readonly request: unknown;
    readonly clientAddress: unknown;
  };

/** Messages from the main thread to a worker. */
export type ToWorker =
  | { readonly type: "init"; readonly server: Readonly<Record<string, unknown>> }
  | RequestStart
  | { readonly type: "data"; readonly id: number; readonly chunk: Uint8Array }
  | { readonly type: "end"; readonly id: number }
  | { readonly type: "fail"; readonly id: number; readonly error: ErrorReport }
  | { readonly type: "closed"; readonly id: number }
  | { readonly type: "credit"; readonly id: number; readonly bytes: number }
  | { readonly type: "sent"; readonly id: number; readonly seq: number; readonly error?: ErrorReport }
  | { readonly type: "tlsStarted"; readonly id: number; readonly info: TlsInfo }
  | { readonly type: "tlsFailed"; readonly id: number; readonly error: ErrorReport };

/** Messages from a worker to the main thread. */
export type FromWorker =
  | { readonly type: "data"; readonly id: number; readonly chunk: Uint8Array }
  | { readonly type: "credit"; readonly id: number; readonly bytes: number }
  | { readonly type: "closeWrite"; readonly id: number }
  | { readonly type: "close"; readonly id: number }
  | { readonly type: "abort"; readonly id: number }
  | { readonly type: "noDelay"; readonly id: number; readonly enabled: boolean }
  | { readonly type: "startTls"; readonly id: number; readonly response: Uint8Array | null }
  | {
    readonly type: "send";
    readonly id: number;
    readonly seq: number;
    readonly data: Uint8Array;
    readonly to: SocketAddress;
  }
  | { readonly type: "done"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly error: ErrorReport }
  /** An uncaught error or unhandled rejection in the worker that no request could be blamed for. */
  | { readonly type: "fault"; readonly kind: "error" | "rejection"; readonly error: ErrorReport };

/** Sends one message on a port, moving the objects in `transfer`. */
export type Post<Message> = (message: Message, transfer?: readonly object[]) => void;

/**
 * Bytes ready to transfer: `chunk` itself when it is the whole of an ordinary `ArrayBuffer` that nobody else holds
 * (the caller says so), otherwise a copy, so that transferring never detaches memory someone still reads.
 */
export function transferableBytes(chunk: Uint8Array, owned: boolean): Uint8Array<ArrayBuffer> {
  const buffer = chunk.buffer;
  if (owned && buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength) {
    return chunk as Uint8Array<ArrayBuffer>;
  }
  // Not chunk.slice(): on a Node Buffer that is a view, and transferring it would detach the original.
  return new Uint8Array(chunk);
}
