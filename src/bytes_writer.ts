/**
 * `wfile` of datagram handlers: an in-memory buffer sent back as one datagram.
 *
 * @module
 */
import { copyOut } from "./byte_pool.ts";
import { type BytesLike, toBytes } from "./connection.ts";

/** Gathers the bytes of a datagram reply (Python's `BytesIO` in `DatagramRequestHandler`). */
export class BytesWriter {
  // Most replies are one write: the array of chunks is made only for a second one.
  #first: Uint8Array | undefined;
  #more: Uint8Array[] | undefined;
  #size = 0;

  /** Appends `data` (a string is UTF-8) and returns its length in bytes. */
  write(data: BytesLike): Promise<number> {
    // A copy, even of a Node Buffer (whose slice() is a view): the caller may reuse its memory.
    const source = toBytes(data);
    const bytes = copyOut(source, source.length);
    if (this.#first === undefined) this.#first = bytes;
    else (this.#more ??= []).push(bytes);
    this.#size += bytes.length;
    return Promise.resolve(bytes.length);
  }

  /** Nothing to do: the reply is sent when the handler finishes. Present so handlers can treat both wfiles alike. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** True once `write()` was called, even with no bytes: then a reply is sent. */
  get written(): boolean {
    return this.#first !== undefined;
  }

  /** Bytes gathered so far. */
  get size(): number {
    return this.#size;
  }

  /** Everything written, as one array (Python's `getvalue()`). */
  getValue(): Uint8Array {
    const first = this.#first;
    if (first === undefined) return new Uint8Array(0);
    const more = this.#more;
    if (more === undefined) return first;
    const out = new Uint8Array(this.#size);
    out.set(first);
    let offset = first.length;
    for (const chunk of more) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    this.#first = out;
    this.#more = undefined;
    return out;
  }
}
