/**
 * The connection preamble: asynchronous steps each accepted stream connection goes through before it becomes a
 * request (reading a PROXY protocol header; a TLS handshake would be another). Steps of different connections run
 * concurrently, so one client that is slow to send its header never holds up the others.
 *
 * @module
 */
import type { RequestEntry } from "./base_server.ts";
import { Connection } from "./connection.ts";
import type { SocketAddress, StreamListener, StreamSocket } from "./transport.ts";

/**
 * One step of the preamble: resolves with the connection to go on with (the same one, or one wrapping it), or
 * throws to refuse it: the connection is then closed without a reply, before `verifyRequest()`.
 */
export type ConnectionStage = (connection: Connection) => Connection | Promise<Connection>;

/** Called with each connection a stage refused, and why. */
export type RejectionSink = (connection: Connection, error: unknown) => void;

type Waiter = {
  resolve: (entry: RequestEntry<Connection, SocketAddress> | null) => void;
  reject: (error: unknown) => void;
};

/**
 * The requests of a stream server whose connections have a preamble: accepts connections while the server waits for
 * a request, runs the stages of each, and hands out the connections that passed them, first ready first. Accepting
 * stops once a request is handed out and nothing waits: as without a preamble, connections the server is not ready
 * for wait in the listen backlog, while those already accepted finish their stages.
 */
export class PreparedConnections {
  #listener: StreamListener;
  #stages: readonly ConnectionStage[];
  #rejected: RejectionSink;
  #ready: Array<RequestEntry<Connection, SocketAddress>> = [];
  #preparing = new Set<Connection>();
  #waiter: Waiter | null = null;
  /** Where ready connections go by callback (see {@link PreparedConnections.deliverTo}), instead of to `next()`. */
  #sink: ((entry: RequestEntry<Connection, SocketAddress> | null) => void) | null = null;
  #accepting = false;
  #arrive = (socket: StreamSocket | null): void => {
    if (socket === null) return this.#listenerEnded();
    if (this.#ended) socket.abort();
    else void this.#prepare(new Connection(socket));
  };
  #ended = false;

  /**
   * @param listener where connections come from
   * @param stages the steps, in order
   * @param rejected told of each connection a stage refused (not called once the server closes)
   * @param admit asked last, for each connection through its stages: `false` drops it (the callee closed and reported
   * it already), as the server's per-host connection cap does
   */
  constructor(
    listener: StreamListener,
    stages: readonly ConnectionStage[],
    rejected: RejectionSink,
    admit: (connection: Connection) => boolean = () => true,
  ) {
    this.#listener = listener;
    this.#stages = stages;
    this.#rejected = rejected;
    this.#admit = admit;
  }

  #admit: (connection: Connection) => boolean;

  /** Connections going through their stages now. */
  get preparing(): number {
    return this.#preparing.size;
  }

  /** The next connection that passed its stages, and its client address; `null` once the listener closed. */
  next(): Promise<RequestEntry<Connection, SocketAddress> | null> {
    const ready = this.#ready.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#ended) return Promise.resolve(null);
    if (this.#waiter !== null) return Promise.reject(new Error("another getRequest() is already waiting"));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      void this.#accept();
    });
  }

  /**
   * The fast path of `serveForever()` (see `RequestDelivery`): from now on, hands each connection that passed its
   * stages to `sink` (those ready already first, at once), and `null` once closed, accepting all the while — by the
   * listener's own callback where it has one. `deliverTo(null)`, also from inside `sink`, goes back to `next()`:
   * connections in their stages then wait as ready ones. `false`, changing nothing, while a `next()` waits or once
   * closed.
   */
  deliverTo(sink: ((entry: RequestEntry<Connection, SocketAddress> | null) => void) | null): boolean {
    if (sink === null) {
      this.#sink = null;
      this.#listener.deliverTo?.(null);
      return true;
    }
    if (this.#waiter !== null || this.#ended) return false;
    this.#sink = sink;
    while (this.#ready.length > 0 && this.#sink === sink) sink(this.#ready.shift()!);
    if (this.#sink === sink && !this.#takeByCallback()) void this.#accept();
    return true;
  }

  /** Accepts by the listener's callback while delivering; false when it cannot (an `accept()` is pending). */
  #takeByCallback(): boolean {
    return this.#listener.deliverTo?.(this.#arrive) ?? false;
  }

  /** Stops: connections still in their stages, or ready and not taken, are reset; a waiting `next()` gets `null`. */
  close(): void {
    this.#ended = true;
    for (const connection of this.#preparing) connection.abort();
    this.#preparing.clear();
    for (const [connection] of this.#ready.splice(0)) connection.abort();
    this.#settle(null);
  }

  async #accept(): Promise<void> {
    if (this.#accepting) return;
    this.#accepting = true;
    try {
      while ((this.#waiter !== null || this.#sink !== null) && !this.#ended) {
        const socket = await this.#listener.accept();
        if (socket === null) return this.#listenerEnded();
        this.#arrive(socket);
        // Delivering now: the listener's callback takes over from this loop where it can.
        if (this.#waiter === null && this.#sink !== null && this.#takeByCallback()) return;
      }
    } catch (error) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter?.reject(error);
    } finally {
      this.#accepting = false;
    }
  }

  #listenerEnded(): void {
    this.#ended = true;
    if (this.#preparing.size === 0) this.#settle(null);
  }

  async #prepare(accepted: Connection): Promise<void> {
    this.#preparing.add(accepted);
    let connection = accepted;
    try {
      for (const stage of this.#stages) connection = await stage(connection);
    } catch (error) {
      if (!this.#preparing.delete(accepted)) return; // closed meanwhile
      connection.abort();
      if (connection !== accepted) accepted.abort();
      this.#rejected(connection, error);
      if (this.#ended && this.#preparing.size === 0) this.#settle(null);
      return;
    }
    if (!this.#preparing.delete(accepted)) {
      connection.abort();
      return;
    }
    if (!this.#admit(connection)) {
      if (connection !== accepted) accepted.abort();
      if (this.#ended && this.#preparing.size === 0) this.#settle(null);
      return;
    }
    const entry: RequestEntry<Connection, SocketAddress> = [connection, connection.clientAddress];
    if (this.#waiter !== null) this.#settle(entry);
    else if (this.#sink !== null) this.#sink(entry);
    else this.#ready.push(entry);
  }

  #settle(entry: RequestEntry<Connection, SocketAddress> | null): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.resolve(entry);
    // The end, while delivering: told once.
    if (entry === null && waiter === null && this.#sink !== null) {
      const sink = this.#sink;
      this.#sink = null;
      sink(null);
    }
  }
}
