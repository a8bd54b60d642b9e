/**
 * `wfile` of datagram handlers: an in-memory buffer sent back as one datagram.
 *
 * @module
 */
import { copyOut } from "./byte_pool.ts";
import { type BytesLike, toBytes } from "./connection.ts";

/** Gathers the bytes of a datagram reply (Python's `BytesIO` in `DatagramRequestHandler`). */
export class BytesWriter {
  #chunks: Uint8Array[] = [];
  #size = 0;
  #written = false;

  /** Appends `data` (a string is UTF-8) and returns its length in bytes. */
  write(data: BytesLike): Promise<number> {
    // A copy, even of a Node Buffer (whose slice() is a view): the caller may reuse its memory.
    const source = toBytes(data);
    const bytes = copyOut(source, source.length);
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    this.#written = true;
    return Promise.resolve(bytes.length);
  }

  /** Nothing to do: the reply is sent when the handler finishes. Present so handlers can treat both wfiles alike. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** True once `write()` was called, even with no bytes: then a reply is sent. */
  get written(): boolean {
    return this.#written;
  }

  /** Bytes gathered so far. */
  get size(): number {
    return this.#size;
  }

  /** Everything written, as one array (Python's `getvalue()`). */
  getValue(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0];
    const out = new Uint8Array(this.#size);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    this.#chunks = [out];
    return out;
  }
}
