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
import type { DatagramSocket, ParentChannel, SocketAddress, StreamSocket } from "../transport.ts";
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

/**
 * Serves the parent's requests with `handlerClass` until told to exit. Says `ready` at once: call it once the handler
 * class is loaded. Requests come one at a time; each ends with `done`, and the child exits after the one marked
 * `last`, after a handler failure (status 1, Python's exit status for an error), on `exit`, or when the parent is gone.
 */
export function serveParent(channel: ParentChannel, handlerClass: RequestHandlerClass<unknown, unknown>): void {
  let server: Readonly<Record<string, unknown>> = Object.freeze({});
  let busy = false;
  let exitWhenIdle = false;

  const serve = async (message: ServeMessage, socket: StreamSocket | null): Promise<void> => {
    if (message.server !== undefined) server = Object.freeze({ ...message.server });
    busy = true;
    let ok: boolean;
    if (message.type === "stream") ok = await serveStream(message, socket, handlerClass, server);
    else if (message.type === "datagram") ok = await serveDatagram(message, channel, handlerClass, server);
    else ok = await runQuietly(message.request, message.clientAddress, handlerClass, server);
    busy = false;
    try {
      await channel.send({ type: "done", id: message.id, ok });
    } catch {
      // The parent is gone: nobody is left to tell.
    }
    if (!ok || message.last || exitWhenIdle) channel.exit(ok ? 0 : 1);
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
): Promise<boolean> {
  if (socket === null) {
    reportError(message.clientAddress, new Error("the parent sent a stream request without its connection"));
    return false;
  }
  const connection = new Connection(new HandedSocket(socket, message.localAddress, message.clientAddress));
  // Data events come from the event loop, so these bytes, read by the parent, reach the reader before any others.
  if (message.prefix !== "") connection.reader.push(fromBase64(message.prefix));
  const ok = await runQuietly(connection, message.clientAddress, handlerClass, server);
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
