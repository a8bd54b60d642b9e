/**
 * `wfile` of stream handlers: writes that send everything and wait for a slow peer.
 *
 * @module
 */
import { concatBytes } from "./concat_bytes.ts";
import { type BytesLike, type Connection, toBytes } from "./connection.ts";
import { RESOLVED } from "./resolved.ts";

/**
 * The `wfile` of {@link StreamRequestHandler}. With `bufferSize` 0 (the default, like Python's `wbufsize = 0`) every
 * `write()` goes straight to the connection; with a positive size, small writes are gathered and sent when the buffer
 * fills, on `flush()`, or when the handler finishes.
 *
 * Every `write()` resolves only once the connection can take more, so a handler that writes a lot to a slow client
 * runs at the client's pace in bounded memory.
 */
export class SocketWriter {
  #connection: Connection;
  #bufferSize: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closed = false;

  /**
   * Makes a writer to `connection`.
   *
   * @param connection where bytes go
   * @param bufferSize bytes gathered before sending; 0 sends each write at once
   */
  constructor(connection: Connection, bufferSize = 0) {
    this.#connection = connection;
    this.#bufferSize = bufferSize;
  }

  /** True after {@link SocketWriter.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `data` (a string is UTF-8) in full and returns its length in bytes. Do not modify `data` afterwards.
   *
   * @throws {Error} when the writer is closed or the connection failed
   */
  write(data: BytesLike): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("write to a closed wfile"));
    const bytes = toBytes(data);
    if (this.#bufferSize <= 0) {
      try {
        if (this.#connection.write(bytes)) return Promise.resolve(bytes.length);
      } catch (error) {
        return Promise.reject(error);
      }
      return this.#connection.drained().then(() => bytes.length);
    }
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes < this.#bufferSize) return Promise.resolve(bytes.length);
    return this.flush().then(() => bytes.length);
  }

  /** Sends whatever is buffered. */
  flush(): Promise<void> {
    if (this.#pendingBytes === 0) return RESOLVED;
    const chunks = this.#pending;
    const size = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (chunks.length === 1) return this.#connection.sendAll(chunks[0]);
    return this.#connection.sendAll(concatBytes(chunks, size));
  }

  /**
   * Refuses further writes and sends whatever is buffered. The connection itself stays open (the server closes it).
   * Returns the shared resolved promise when nothing was buffered.
   */
  close(): Promise<void> {
    if (this.#closed) return RESOLVED;
    this.#closed = true;
    return this.flush();
  }
}
