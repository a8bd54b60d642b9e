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

/** A stage's callback form: `done(undefined, connection)` to go on, `done(error)` to refuse. */
export type StageThen = (connection: Connection, done: (error: unknown, next?: Connection) => void) => void;

const STAGE_THEN: unique symbol = Symbol("stage by callback");

/**
 * A stage written by callback, which the preamble runs as such: a connection that passes it goes on in the turn it
 * passed (for a PROXY protocol header, the turn its bytes arrived), not some promise turns later. Called as a plain
 * {@link ConnectionStage} (by an override of `connectionStages()`, say), it returns a promise as any stage does.
 */
export function callbackStage(then: StageThen): ConnectionStage {
  const stage = (connection: Connection) =>
    new Promise<Connection>((resolve, reject) =>
      then(connection, (error, next) => error === undefined ? resolve(next!) : reject(error))
    );
  return Object.assign(stage, { [STAGE_THEN]: then });
}

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
    else this.#prepare(new Connection(socket));
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
    // Forgotten first: an abort may end a stage at once (by callback), and a closed server's connections are no refusal.
    const preparing = [...this.#preparing];
    this.#preparing.clear();
    for (const connection of preparing) connection.abort();
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

  #prepare(accepted: Connection): void {
    this.#preparing.add(accepted);
    this.#runStages(accepted, accepted, 0);
  }

  /**
   * Runs what comes after a connection's stages, which may be called from a socket's own callback: what it throws is
   * the server's failure, thrown again on its own (as a failed promise was), not the socket's or this loop's.
   */
  #isolated(run: () => void): void {
    try {
      run();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** Runs the stages from `index` on: synchronous ones and those by callback in this turn, promised ones after. */
  #runStages(accepted: Connection, connection: Connection, index: number): void {
    const stages = this.#stages;
    while (index < stages.length) {
      const stage = stages[index++] as ConnectionStage & { [STAGE_THEN]?: StageThen };
      const then = stage[STAGE_THEN];
      if (then !== undefined) {
        const next = index;
        try {
          then(connection, (error, passed) => {
            if (error !== undefined) this.#refused(accepted, connection, error);
            else this.#runStages(accepted, passed!, next);
          });
        } catch (error) {
          this.#refused(accepted, connection, error);
        }
        return;
      }
      let result: Connection | Promise<Connection>;
      try {
        result = stage(connection);
      } catch (error) {
        return this.#refused(accepted, connection, error);
      }
      if (!(result instanceof Connection)) {
        const next = index;
        const current = connection;
        Promise.resolve(result).then(
          (passed) => this.#runStages(accepted, passed, next),
          (error) => this.#refused(accepted, current, error),
        );
        return;
      }
      connection = result;
    }
    this.#passed(accepted, connection);
  }

  #refused(accepted: Connection, connection: Connection, error: unknown): void {
    if (!this.#preparing.delete(accepted)) return; // closed meanwhile
    connection.abort();
    if (connection !== accepted) accepted.abort();
    this.#isolated(() => this.#rejected(connection, error));
    if (this.#ended && this.#preparing.size === 0) this.#settle(null);
  }

  #passed(accepted: Connection, connection: Connection): void {
    if (!this.#preparing.delete(accepted)) {
      connection.abort();
      return;
    }
    this.#isolated(() => {
      if (!this.#admit(connection)) {
        if (connection !== accepted) accepted.abort();
        if (this.#ended && this.#preparing.size === 0) this.#settle(null);
        return;
      }
      const entry: RequestEntry<Connection, SocketAddress> = [connection, connection.clientAddress];
      if (this.#waiter !== null) this.#settle(entry);
      else if (this.#sink !== null) this.#sink(entry);
      else this.#ready.push(entry);
    });
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
