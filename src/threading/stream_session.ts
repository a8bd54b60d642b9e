/**
 * The main thread's side of a connection served in a worker: a pump between the real connection and the worker's
 * port, with credit-based flow control both ways.
 *
 * @module
 */
import type { Connection } from "../connection.ts";
import type { HandlerLocation } from "../handler_location.ts";
import type { SocketAddress } from "../transport.ts";
import { reportError } from "./error_report.ts";
import { ACK_BATCH, type FromWorker, MAX_CHUNK, STREAM_WINDOW, type ToWorker, transferableBytes } from "./protocol.ts";
import { RequestSession } from "./request_session.ts";

/**
 * One connection on its way through a worker.
 *
 * Client to handler: bytes are read from the connection's reader only while the worker has credit, so when the
 * handler does not read, the reader fills, pauses the socket, and the kernel pushes back on the client.
 * Handler to client: each chunk goes straight to the connection, and is acknowledged to the worker once the socket
 * has taken it below its high-water mark, so the handler writes at the client's pace.
 * End of input, errors and the final close are passed on in order, after the bytes before them.
 */
export class StreamSession extends RequestSession {
  #connection: Connection;
  #clientAddress: SocketAddress;
  #credit = STREAM_WINDOW;
  #creditWaiter: (() => void) | null = null;
  #unacknowledged = 0;
  #writeFailed = false;
  /** What the pump had to tell the worker while an upgrade was under way, in order; `null` when none is. */
  #held: Array<() => void> | null = null;

  /**
   * @param handler where the worker finds the handler class
   * @param connection the accepted connection, which stays in the main thread
   * @param clientAddress the client's address
   */
  constructor(handler: HandlerLocation, connection: Connection, clientAddress: SocketAddress) {
    super(handler);
    this.#connection = connection;
    this.#clientAddress = clientAddress;
  }

  protected begin(): void {
    const connection = this.#connection;
    this.post({
      type: "stream",
      id: this.id,
      handler: this.handler,
      clientAddress: this.#clientAddress,
      localAddress: connection.localAddress,
      remoteAddress: connection.remoteAddress,
      tls: connection.tls,
      startTls: connection.tlsUpgrade !== null,
      proxyHeader: connection.proxyHeader,
    });
    const pumped = this.#pumpToWorker();
    // "closed" comes last, after every byte and the end of input, so the handler's reader loses nothing.
    void Promise.all([pumped, connection.whenClosed]).then(() => this.post({ type: "closed", id: this.id }));
  }

  protected override handle(message: FromWorker): void {
    const connection = this.#connection;
    switch (message.type) {
      case "data": {
        const size = message.chunk.length;
        connection.sendAll(message.chunk).then(() => this.#acknowledge(size), (error) => this.#failWrites(error));
        return;
      }
      case "credit":
        this.#credit += message.bytes;
        this.#wakePump();
        return;
      case "closeWrite":
        connection.closeWrite();
        return;
      case "close":
        connection.close();
        return;
      case "abort":
        connection.abort();
        return;
      case "noDelay":
        connection.setNoDelay(message.enabled);
        return;
      case "startTls":
        // Secured here, where the socket is; the worker then reads and writes plaintext as before. Bytes read
        // meanwhile wait, so that none of the TLS stream reaches the worker before it hears the upgrade is done.
        this.#held = [];
        connection.startTls(message.response ?? undefined).then(
          (info) => this.#upgraded({ type: "tlsStarted", id: this.id, info }),
          (error) => this.#upgraded({ type: "tlsFailed", id: this.id, error: reportError(error) }),
        );
        return;
    }
  }

  protected override finish(): void {
    this.#wakePump();
  }

  /** Moves the client's bytes to the worker as credit allows, then the end of input or the error that ended it. */
  async #pumpToWorker(): Promise<void> {
    const reader = this.#connection.reader;
    try {
      for (;;) {
        while (this.#credit <= 0 && !this.finished) {
          await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
        }
        if (this.finished) return;
        const chunk = await reader.read1(Math.min(this.#credit, MAX_CHUNK));
        if (this.finished) return;
        if (chunk.length === 0) {
          this.#postInOrder({ type: "end", id: this.id });
          return;
        }
        this.#credit -= chunk.length;
        this.#sendChunk(chunk);
      }
    } catch (error) {
      this.#postInOrder({ type: "fail", id: this.id, error: reportError(error) });
    }
  }

  #postInOrder(message: ToWorker): void {
    if (this.#held !== null) this.#held.push(() => this.post(message));
    else this.post(message);
  }

  #upgraded(message: ToWorker): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.post(message);
    for (const send of held) send();
  }

  /** Transfers the chunk's memory when the reader gave up all of it; copies it otherwise. */
  #sendChunk(chunk: Uint8Array): void {
    if (this.#held !== null) return void this.#held.push(() => this.#sendChunk(chunk));
    const bytes = transferableBytes(chunk, true);
    try {
      this.post({ type: "data", id: this.id, chunk: bytes }, [bytes.buffer]);
    } catch {
      // Some runtimes refuse to transfer memory they pool: send a copy instead.
      const copy = new Uint8Array(chunk);
      this.post({ type: "data", id: this.id, chunk: copy }, [copy.buffer]);
    }
  }

  #wakePump(): void {
    const wake = this.#creditWaiter;
    this.#creditWaiter = null;
    wake?.();
  }

  #acknowledge(size: number): void {
    this.#unacknowledged += size;
    if (this.#unacknowledged < ACK_BATCH) return;
    this.post({ type: "credit", id: this.id, bytes: this.#unacknowledged });
    this.#unacknowledged = 0;
  }

  #failWrites(error: unknown): void {
    if (this.#writeFailed) return;
    this.#writeFailed = true;
    this.post({ type: "fail", id: this.id, error: reportError(error) });
  }
}
