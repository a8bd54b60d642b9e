/**
 * The messages a forking server and its child processes exchange over the IPC channel: JSON data, bytes as base64.
 *
 * A child starts, imports its handler class and says `ready`. The parent then sends it one request at a time (a
 * stream request carries the connection itself); the child answers `done` once the request is over, after any
 * datagram `reply`. With `last` set, or when its handler failed, the child exits after `done`: status 0, or 1 when
 * the handler failed. `exit` asks an idle child to end.
 *
 * @module
 */
import type { TlsConfig } from "../tls/options.ts";
import type { ProxyProtocolOptions } from "../proxy/options.ts";
import type { SocketAddress } from "../transport.ts";

/** Parent to child: serve a stream request; the connection travels with this message. */
export interface ServeStream {
  readonly type: "stream";
  /** Request number, echoed in `done`. */
  readonly id: number;
  /** The client's address as the parent saw it (a unix client's is `""`). */
  readonly clientAddress: SocketAddress;
  /** The server's end of the connection. */
  readonly localAddress: SocketAddress;
  /**
   * The server's `proxyProtocol` option, when set: the child reads the header (the parent reads nothing from the
   * connection; it checked the peer is trusted), and `clientAddress` is then the source it names.
   */
  readonly proxyProtocol?: ProxyProtocolOptions;
  /** The PROXY protocol header the parent already read (base64 of its bytes; `runInParent()`), if any. */
  readonly proxyHeader?: string;
  /** With `proxyHeader`: the real peer (`clientAddress` is the header's source). */
  readonly remoteAddress?: SocketAddress;
  /** Bytes the parent read from the connection and did not consume (base64; usually empty). */
  readonly prefix: string;
  /** The server's TLS settings: the child runs the handshake (or, for STARTTLS, offers it to the handler). */
  readonly tls: TlsConfig | null;
  /** Exit after this request. */
  readonly last: boolean;
  /** The server's data fields, sent with a child's first request (see `server_view.ts`). */
  readonly server?: Readonly<Record<string, unknown>>;
}

/** Parent to child: serve a datagram; replies come back as {@link Reply} messages. */
export interface ServeDatagram {
  readonly type: "datagram";
  readonly id: number;
  /** The sender, or `null` for an unnamed unix datagram client. */
  readonly clientAddress: SocketAddress | null;
  /** The datagram (base64). */
  readonly data: string;
  readonly last: boolean;
  readonly server?: Readonly<Record<string, unknown>>;
}

/** Parent to child: serve a request of a custom server (any JSON data). */
export interface ServeValue {
  readonly type: "value";
  readonly id: number;
  readonly request: unknown;
  readonly clientAddress: unknown;
  readonly last: boolean;
  readonly server?: Readonly<Record<string, unknown>>;
}

/** Parent to child: end now (the child is idle). */
export interface Retire {
  readonly type: "exit";
}

/** A request for a child, whichever its kind. */
export type ServeMessage = ServeStream | ServeDatagram | ServeValue;

/** Everything a parent sends. */
export type ToChild = ServeMessage | Retire;

/** Child to parent: the handler class is loaded; requests may come. */
export interface Ready {
  readonly type: "ready";
}

/** Child to parent: the handler class could not be loaded (the child exits with status 1). */
export interface LoadFailed {
  readonly type: "failed";
  /** The `HandlerLoadError` message. */
  readonly error: string;
}

/** Child to parent: send this datagram through the server's socket. */
export interface Reply {
  readonly type: "reply";
  readonly id: number;
  /** The datagram (base64). */
  readonly data: string;
  readonly to: SocketAddress;
}

/** Child to parent: the request is over (its connection closed in the child, its replies sent). */
export interface Done {
  readonly type: "done";
  readonly id: number;
  /** `false` when the handler failed (the child reported it with `handleError` and exits with status 1). */
  readonly ok: boolean;
}

/** Everything a child sends. */
export type FromChild = Ready | LoadFailed | Reply | Done;

const CHUNK = 0x8000;

/** Bytes as base64, without `node:buffer` (absent from Deno's globals). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + CHUNK));
  }
  return btoa(binary);
}

/** The bytes of a base64 string. */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
