/**
 * The life of a child process of a forking server, runtime-agnostic: wait for requests from the parent, serve each
 * with the handler class, report, and exit when told or when a handler failed.
 *
 * @module
 */
import { formatAddress } from "../address.ts";
import { type RequestHandlerClass, runHandler } from "../base_request_handler.ts";
import { Connection } from "../connection.ts";
import { describeBriefly, isClientError } from "../client_errors.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import { FailureLog } from "../tls/failure_log.ts";
import type { TlsConfig } from "../tls/options.ts";
import { offerStartTls } from "../tls/upgrade.ts";
import type {
  DatagramSocket,
  ParentChannel,
  SocketAddress,
  StreamSocket,
  TlsContext,
  TlsSupport,
} from "../transport.ts";
import { ProxyProtocolError } from "../proxy/errors.ts";
import { checkProxyProtocol, type ProxyProtocolOptions, readProxyHeader } from "../proxy/options.ts";
import { parseProxyHeader } from "../proxy/parser.ts";
import { HandedSocket } from "./handed_socket.ts";
import {
  fromBase64,
  type ServeDatagram,
  type ServeMessage,
  type ServeStream,
  toBase64,
  type ToChild,
} from "./protocol.ts";

/** How long a closed connection may take to hand its last bytes to a peer that does not read (as `TCPServer`). */
const LINGER = 30_000;

/** A stream request whose client had closed its connection before the child got it: not served, not counted. */
const SKIPPED: unique symbol = Symbol("skipped");

/**
 * Turns of the event loop (`setTimeout(0)`) a received connection gets to show that its client closed it before it
 * arrived: what the kernel already holds (bytes, the end of input, a reset) is read within them.
 */
const ARRIVAL_TURNS = 2;

/**
 * Serves the parent's requests with `handlerClass` until told to exit. Says `ready` at once: call it once the handler
 * class is loaded. Requests come one at a time; each ends with `done`, and the child exits after the one marked
 * `last`, after a handler failure (status 1, Python's exit status for an error), on `exit`, or when the parent is gone.
 */
export function serveParent(
  channel: ParentChannel,
  handlerClass: RequestHandlerClass<unknown, unknown>,
  tls: TlsSupport | null = null,
): void {
  const contexts = new ChildTlsContexts(tls);
  let server: Readonly<Record<string, unknown>> = Object.freeze({});
  let busy = false;
  let exitWhenIdle = false;

  const serve = async (message: ServeMessage, socket: StreamSocket | null): Promise<void> => {
    if (message.server !== undefined) server = Object.freeze({ ...message.server });
    busy = true;
    let outcome: boolean | typeof SKIPPED;
    if (message.type === "stream") outcome = await serveStream(message, socket, handlerClass, server, contexts);
    else if (message.type === "datagram") outcome = await serveDatagram(message, channel, handlerClass, server);
    else outcome = await runQuietly(message.request, message.clientAddress, handlerClass, server);
    busy = false;
    const ok = outcome !== false;
    const skipped = outcome === SKIPPED;
    try {
      await channel.send({ type: "done", id: message.id, ok, ...(skipped ? { skipped } : {}) });
    } catch {
      // The parent is gone: nobody is left to tell.
    }
    if (!ok || (message.last && !skipped) || exitWhenIdle) channel.exit(ok ? 0 : 1);
  };

  channel.attach({
    message(message, socket) {
      const request = message as ToChild;
      if (request.type === "exit") {
        if (busy) exitWhenIdle = true;
        else channel.exit(0);
        return;
      }
      void serve(request, socket);
    },
    disconnect() {
      if (busy) exitWhenIdle = true;
      else channel.exit(0);
    },
  });
  void channel.send({ type: "ready" }).catch(() => channel.exit(0));
}

async function serveStream(
  message: ServeStream,
  socket: StreamSocket | null,
  handlerClass: RequestHandlerClass<unknown, unknown>,
  server: Readonly<Record<string, unknown>>,
  contexts: ChildTlsContexts,
): Promise<boolean | typeof SKIPPED> {
  if (socket === null) {
    reportError(message.clientAddress, new Error("the parent sent a stream request without its connection"));
    return false;
  }
  const { localAddress } = message;
  const peer = message.remoteAddress ?? message.clientAddress;
  const wrap = (inner: StreamSocket) => new HandedSocket(inner, localAddress, peer);
  let context: TlsContext | null = null;
  let inner = socket;
  /** A PROXY protocol header read before the handshake (it precedes it), or `undefined`. */
  let headerFirst: Connection["proxyHeader"] | undefined;
  if (message.tls !== null) {
    // The parent never reads a TLS connection: the handshake is the child's, like the rest of the request.
    try {
      context = await contexts.get(message.tls);
      if (message.tls.mode === "implicit" && message.proxyProtocol !== undefined) {
        const plain = new Connection(wrap(socket));
        // Refused (closed and reported by readHeader), as a header read after the handshake would be.
        if (!(await readHeader(plain, message.proxyProtocol))) return true;
        headerFirst = plain.proxyHeader;
        // What the reader holds past the header is the start of the handshake.
        inner = (await context.secure(socket, () => plain.reader.takeBuffered())).socket;
      } else if (message.tls.mode === "implicit") inner = (await context.secure(socket)).socket;
    } catch (error) {
      socket.abort();
      contexts.log.report(error, message.clientAddress);
      // No handler ran: like a connection closed on arrival, it costs this child nothing.
      return SKIPPED;
    }
  }
  const connection = new Connection(wrap(inner));
  if (context !== null && message.tls?.mode === "starttls") {
    offerStartTls(connection, context, socket, wrap, (error) => contexts.log.report(error, message.clientAddress));
  }
  // Read in the parent (runInParent()), and checked there: parsed again, with any TLV length the parent allowed.
  if (message.proxyHeader !== undefined) {
    connection.proxyHeader = parseProxyHeader(fromBase64(message.proxyHeader), { maxTlvBytes: 65535 })!.header;
  }
  // Data events come from the event loop, so these bytes, read by the parent, reach the reader before any others.
  if (message.prefix !== "") connection.reader.push(fromBase64(message.prefix));
  else if (await closedOnArrival(connection)) {
    // Connect-and-close (or reset) before a byte: nothing to serve, and no reason to spend this process on it.
    connection.abort();
    return SKIPPED;
  }
  let ok = true;
  if (headerFirst !== undefined) connection.proxyHeader = headerFirst;
  if (
    message.proxyProtocol === undefined || headerFirst !== undefined ||
    (await readHeader(connection, message.proxyProtocol))
  ) {
    ok = await runQuietly(connection, connection.clientAddress, handlerClass, server);
  }
  // Python's shutdown_request, in the child: half-close, then close once the last bytes are out.
  connection.closeWrite();
  connection.close();
  if (!connection.closed) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lingered = new Promise<void>((resolve) => (timer = setTimeout(resolve, LINGER)));
    await Promise.race([connection.whenClosed, lingered]);
    clearTimeout(timer);
    if (!connection.closed) connection.abort();
  }
  return ok;
}

/**
 * Reads the connection's PROXY protocol header, here where the connection is served. A refused one closes the
 * connection without a reply and is reported as the parent's default `handleRejectedConnection()` would (this is no
 * handler failure: the child goes on). True when the handler may run.
 */
async function readHeader(connection: Connection, options: ProxyProtocolOptions): Promise<boolean> {
  try {
    connection.proxyHeader = await readProxyHeader(
      connection,
      checkProxyProtocol({ ...options, trustedProxies: null }),
    );
    return true;
  } catch (error) {
    connection.abort();
    if (!(error instanceof ProxyProtocolError && error.code === "closed")) {
      const reason = error instanceof Error ? error.message : String(error);
      const peer = formatAddress(connection.remoteAddress);
      console.error(`Connection from ${peer} closed before its request (in child process): ${reason}`);
    }
    return false;
  }
}

/**
 * True when the connection's input ended (or failed) with no byte within {@link ARRIVAL_TURNS} turns of the event
 * loop: its client left before the child got it. Stops waiting at the first byte. Reads nothing away from the
 * handler: what arrives stays in the connection's reader.
 */
async function closedOnArrival(connection: Connection): Promise<boolean> {
  const reader = connection.reader;
  for (let turn = 0; turn < ARRIVAL_TURNS && !reader.atEnd && reader.buffered === 0; turn++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return reader.atEnd;
}

async function serveDatagram(
  message: ServeDatagram,
  channel: ParentChannel,
  handlerClass: RequestHandlerClass<unknown, unknown>,
  server: Readonly<Record<string, unknown>>,
): Promise<boolean> {
  const request: DatagramRequest = {
    data: fromBase64(message.data),
    socket: new ParentDatagramSocket(channel, message.id, server.serverAddress as SocketAddress),
  };
  return await runQuietly(request, message.clientAddress, handlerClass, server);
}

/** Runs the handler; a failure is reported here, as Python's child calls `handle_error`. True when it succeeded. */
async function runQuietly(
  request: unknown,
  clientAddress: unknown,
  handlerClass: RequestHandlerClass<unknown, unknown>,
  server: Readonly<Record<string, unknown>>,
): Promise<boolean> {
  try {
    await runHandler(new handlerClass(request, clientAddress, server as never));
    return true;
  } catch (error) {
    reportError(clientAddress, error);
    return false;
  }
}

/**
 * `BaseServer.handleError`'s default, in the child: the error with the client's address, on stderr (one line for an
 * error the client caused). Not rate-limited: each child serves few requests.
 */
function reportError(clientAddress: unknown, error: unknown): void {
  try {
    const where = clientAddress === null || clientAddress === undefined ? "" : ` from ${describe(clientAddress)}`;
    if (isClientError(error)) console.error(`Client error${where} (in child process): ${describeBriefly(error)}`);
    else console.error(`Exception occurred during processing of request${where} (in child process):`, error);
  } catch {
    // stderr is gone; the exit status still tells the parent.
  }
}

function describe(address: unknown): string {
  if (typeof address === "string" || Array.isArray(address)) return formatAddress(address as SocketAddress);
  return String(address);
}

/** The TLS contexts of a child: one per distinct configuration, the last one kept (new settings replace it). */
class ChildTlsContexts {
  readonly log: FailureLog = new FailureLog();
  #support: TlsSupport | null;
  #key = "";
  #context: Promise<TlsContext> | null = null;

  constructor(support: TlsSupport | null) {
    this.#support = support;
  }

  get(config: TlsConfig): Promise<TlsContext> {
    const support = this.#support;
    if (support === null) return Promise.reject(new Error("this child process has no TLS support"));
    const key = JSON.stringify(config);
    if (key !== this.#key || this.#context === null) {
      this.#key = key;
      this.#context = support.createContext(config);
    }
    return this.#context;
  }
}

/** The server's datagram socket as a child sees it: replies go to the parent, which sends them. */
class ParentDatagramSocket implements DatagramSocket {
  readonly address: SocketAddress;
  #channel: ParentChannel;
  #id: number;

  constructor(channel: ParentChannel, id: number, address: SocketAddress) {
    this.#channel = channel;
    this.#id = id;
    this.address = address;
  }

  /** A child receives no datagrams of its own: the parent hands each one over. */
  receive(): Promise<null> {
    return Promise.resolve(null);
  }

  send(data: Uint8Array, to: SocketAddress): Promise<void> {
    return this.#channel.send({ type: "reply", id: this.#id, data: toBase64(data), to });
  }

  /** The socket belongs to the parent: nothing to close here. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
