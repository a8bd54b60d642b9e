/**
 * What runs in each worker of the threading mix-in: it takes requests from the main thread, rebuilds each one (a
 * connection over the port, a datagram with a reply path, or a cloned value), and runs the handler class it imports
 * by URL, with the same `setup`/`handle`/`finish` life as in the main thread.
 *
 * A worker serves several requests at once, as the event loop of the main thread would; the pool decides how many.
 *
 * @module
 */
import { type RequestHandlerClass, runHandler } from "../base_request_handler.ts";
import { Connection } from "../connection.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import { type HandlerLocation, loadHandlerClass } from "../handler_location.ts";
import type { MessagePortLike, WorkerFault, WorkerFaultHooks } from "../transport.ts";
import { reportError } from "./error_report.ts";
import { PortDatagramSocket } from "./port_datagram_socket.ts";
import { PortStreamSocket } from "./port_stream_socket.ts";
import type { FromWorker, Post, RequestStart, ToWorker } from "./protocol.ts";

/** The name this module's entry point is exported under, for `Runtime.startWorker`. */
export const WORKER_ENTRY_EXPORT = "runThreadingWorker";

/**
 * Serves requests arriving on `port` until the worker is terminated. Called once in each worker, by the runtime
 * adapter's boot module, which passes the runtime's fault hooks: with them, an uncaught error or unhandled rejection
 * fails only the request it came from (where the runtime tells which) and the worker goes on.
 */
export function runThreadingWorker(port: MessagePortLike, faults?: WorkerFaultHooks): void {
  const worker = new ThreadingWorker((message, transfer) => port.postMessage(message, transfer), faults);
  port.onmessage = (event) => worker.onMessage(event.data as ToWorker);
}

interface RequestInWorker {
  onMessage(message: ToWorker): void;
}

/**
 * The requests one worker is serving, by id, and the handler classes it has imported. Each request's handler runs
 * in an async context tagged with its id, so that a fault the runtime attributes to that context fails that request
 * alone (its outcome is sent at once, its socket closed); a fault it cannot attribute is reported as such, and the
 * worker goes on.
 */
export class ThreadingWorker {
  #post: Post<FromWorker>;
  #faults: WorkerFaultHooks | undefined;
  #server: Readonly<Record<string, unknown>> = Object.freeze({});
  #requests = new Map<number, RequestInWorker>();
  /** Requests whose outcome has not been sent yet. */
  #running = new Set<number>();
  #classes = new Map<string, Promise<RequestHandlerClass<unknown, unknown>>>();

  /**
   * @param post sends a message to the main thread
   * @param faults the runtime's fault hooks; without them, an uncaught error takes the runtime's default course
   */
  constructor(post: Post<FromWorker>, faults?: WorkerFaultHooks) {
    this.#post = post;
    this.#faults = faults;
    faults?.listen((fault) => this.#onFault(fault));
  }

  /** Requests being served. */
  get activeRequests(): number {
    return this.#requests.size;
  }

  /** Takes one message from the main thread. */
  onMessage(message: ToWorker): void {
    switch (message.type) {
      case "init":
        this.#server = Object.freeze({ ...message.server });
        return;
      case "stream": {
        const socket = new PortStreamSocket(message.id, message.localAddress, message.remoteAddress, this.#post);
        socket.tls = message.tls;
        this.#requests.set(message.id, socket);
        const connection = new Connection(socket);
        if (message.startTls) connection.tlsUpgrade = (_, response) => socket.startTls(response);
        connection.proxyHeader = message.proxyHeader;
        this.#start(message, connection, message.clientAddress, () => socket.flushed());
        return;
      }
      case "datagram": {
        const socket = new PortDatagramSocket(message.id, message.socketAddress, this.#post);
        this.#requests.set(message.id, socket);
        const request: DatagramRequest = { data: message.data, socket };
        this.#start(message, request, message.clientAddress);
        return;
      }
      case "value":
        this.#start(message, message.request, message.clientAddress);
        return;
      default:
        this.#requests.get(message.id)?.onMessage(message);
    }
  }

  /** Serves a request in an async context tagged with its id. */
  #start(start: RequestStart, request: unknown, clientAddress: unknown, flushed?: () => Promise<void>): void {
    this.#running.add(start.id);
    const serve = () => this.#serve(start, request, clientAddress, flushed);
    void (this.#faults === undefined ? serve() : this.#faults.withTag(start.id, serve));
  }

  /** A fault from a running request fails it, as if its handler had thrown; any other is reported as it is. */
  #onFault(fault: WorkerFault): void {
    const error = reportError(fault.error);
    const id = fault.tag;
    if (id !== undefined && this.#running.delete(id)) {
      this.#post({ type: "failed", id, error });
      // Its reads and writes end, so that its handler ends too instead of lingering in the worker.
      this.#requests.get(id)?.onMessage({ type: "closed", id });
      return;
    }
    this.#post({ type: "fault", kind: fault.kind, error });
  }

  /** Runs the handler, then tells the main thread how it ended, after the bytes it wrote. */
  async #serve(
    start: RequestStart,
    request: unknown,
    clientAddress: unknown,
    flushed?: () => Promise<void>,
  ): Promise<void> {
    let outcome: FromWorker;
    try {
      const HandlerClass = await this.#load(start.handler);
      await runHandler(new HandlerClass(request, clientAddress, this.#server as never));
      outcome = { type: "done", id: start.id };
    } catch (error) {
      outcome = { type: "failed", id: start.id, error: reportError(error) };
    }
    if (flushed !== undefined) await flushed();
    this.#requests.delete(start.id);
    if (this.#running.delete(start.id)) this.#post(outcome);
  }

  /** Imports a handler class once per worker; a failed import is retried by the next request. */
  #load(location: HandlerLocation): Promise<RequestHandlerClass<unknown, unknown>> {
    const key = `${location.exportName} ${location.url}`;
    let loading = this.#classes.get(key);
    if (loading === undefined) {
      loading = loadHandlerClass(location);
      this.#classes.set(key, loading);
      loading.catch(() => this.#classes.delete(key));
    }
    return loading;
  }
}
