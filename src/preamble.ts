/**
 * The connection preamble: asynchronous steps each accepted stream connection goes through before it becomes a
 * request (reading a PROXY protocol header; a TLS handshake would be another). Steps of different connections run
 * concurrently, so one client that is slow to send its header never holds up the others.
 *
 * @module
 */
import type { RequestEntry } from "./base_server.ts";
import { Connection } from "./connection.ts";
import type { SocketAddress, StreamListener } from "./transport.ts";

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
  #accepting = false;
  #ended = false;

  /**
   * @param listener where connections come from
   * @param stages the steps, in order
   * @param rejected told of each connection a stage refused (not called once the server closes)
   */
  constructor(listener: StreamListener, stages: readonly ConnectionStage[], rejected: RejectionSink) {
    this.#listener = listener;
    this.#stages = stages;
    this.#rejected = rejected;
  }

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
      while (this.#waiter !== null && !this.#ended) {
        const socket = await this.#listener.accept();
        if (socket === null) {
          this.#ended = true;
          if (this.#preparing.size === 0) this.#settle(null);
          return;
        }
        if (this.#ended) {
          socket.abort();
          return;
        }
        void this.#prepare(new Connection(socket));
      }
    } catch (error) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter?.reject(error);
    } finally {
      this.#accepting = false;
    }
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
    const entry: RequestEntry<Connection, SocketAddress> = [connection, connection.clientAddress];
    if (this.#waiter !== null) {
      this.#settle(entry);
      return;
    }
    this.#ready.push(entry);
  }

  #settle(entry: RequestEntry<Connection, SocketAddress> | null): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.resolve(entry);
  }
}
