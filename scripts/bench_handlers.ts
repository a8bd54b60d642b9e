/**
 * Handlers of the benchmarks, importable by URL so that workers and child processes can run them too.
 *
 * @module
 */
import { LineReceiver, StreamRequestHandler } from "../handlers.ts";

/** Bytes hashed per request by {@link CpuHash}: 1 MiB, a few milliseconds of work. */
export const CPU_WORK_BYTES: number = 1 << 20;

// Made on first use: the echo servers import this module too, and idle10k measures their memory.
let work: Uint8Array | undefined;

/** FNV-1a over `bytes`, seeded: plain CPU work on the handler's thread, with no native offloading. */
export function fnv1a(bytes: Uint8Array, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash >>> 0;
}

/**
 * For each line, hashes 1 MiB (seeded by the line's length) and answers with a line of the same length that starts
 * with the hash in hex (the load generator waits for as many bytes as it sent).
 */
export class CpuHash extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = await this.rfile.readline(65536);
      if (line.length === 0) return;
      work ??= new Uint8Array(CPU_WORK_BYTES).map((_, i) => (i * 2654435761) >>> 24);
      const hash = fnv1a(work, line.length).toString(16).padStart(8, "0");
      await this.wfile.write(`${hash.padEnd(line.length - 1, " ")}\n`);
    }
  }
}

/** The line echo as a {@link LineReceiver}: framed into lines from the socket's callback, each written back. */
export class LineReceiverEcho extends LineReceiver {
  static override moduleUrl: string = import.meta.url;

  override lineReceived(line: Uint8Array): void {
    this.transport.write(line);
  }
}

/** CPU time {@link Spin50} spends on each line, in milliseconds: 50 µs, a handler with real per-message work. */
export const SPIN_MS = 0.05;

/** Echoes each line after spinning {@link SPIN_MS} of CPU on the handler's thread (the pool benchmark's work). */
export class Spin50 extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = await this.rfile.readline(65536);
      if (line.length === 0) return;
      const until = performance.now() + SPIN_MS;
      while (performance.now() < until) {
        // Busy: the point is CPU, not waiting.
      }
      await this.wfile.write(line);
    }
  }
}
