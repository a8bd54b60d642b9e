/**
 * `concatBytes`: chunks joined into one new array, for the framers that gather a frame which came in pieces.
 *
 * @module
 */

/** The chunks, in order, copied into one new array of `size` bytes (their total length). */
export function concatBytes(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined;
}
