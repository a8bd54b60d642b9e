/**
 * Handlers of the benchmarks, importable by URL so that workers and child processes can run them too.
 *
 * @module
 */
import { StreamRequestHandler } from "../mod.ts";

/** Bytes hashed per request by {@link CpuHash}: 1 MiB, a few milliseconds of work. */
export const CPU_WORK_BYTES: number = 1 << 20;

const work = new Uint8Array(CPU_WORK_BYTES).map((_, i) => (i * 2654435761) >>> 24);

/** FNV-1a over `bytes`, seeded: plain CPU work on the handler's thread, with no native offloading. */
export function fnv1a(bytes: Uint8Array, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash >>> 0;
}

/** For each line, hashes 1 MiB (seeded by the line's length) and answers with the hash as a hex line. */
export class CpuHash extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = await this.rfile.readline(65536);
      if (line.length === 0) return;
      await this.wfile.write(`${fnv1a(work, line.length).toString(16).padStart(8, "0")}\n`);
    }
  }
}
