/**
 * Handlers of `scripts/bench_threading.ts`, in a module of their own so that workers can import them by URL.
 *
 * @module
 */
import { StreamRequestHandler } from "../handlers.ts";

/** The data each request hashes: 1 MiB. */
const BLOCK = new Uint8Array(1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);

/** FNV-1a (32-bit) in plain JavaScript: CPU-bound work that blocks its thread, as a handler's own code does. */
function fnv1a(data: Uint8Array, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < data.length; i++) hash = Math.imul(hash ^ data[i], 0x01000193);
  return hash >>> 0;
}

/** For each line received, hashes 1 MiB and answers the hash as a line. */
export class HashHandler extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = await this.rfile.readline();
      if (line.length === 0) return;
      await this.wfile.write(`${fnv1a(BLOCK, line.length).toString(16)}\n`);
    }
  }
}
