/**
 * What a handler running in a worker sees as `this.server`: a copy of the server's settings, taken when the pool
 * starts.
 *
 * @module
 */
import type { SocketAddress } from "../transport.ts";

/**
 * The `server` of a handler running in a worker: a frozen copy of the server's data fields (its address, options
 * such as `timeout` or `maxPacketSize`, and any field of a subclass), taken when the first request starts the pool.
 * Methods and getters are not copied, nor fields that cannot be structured-cloned.
 *
 * Workers share no memory with the main thread: changing a field of the server afterwards does not change the view.
 * To share state, put a `SharedArrayBuffer` (or a typed array over one) in a server field: the view then holds the
 * same memory, to use with `Atomics`.
 *
 * @example A counter every worker increments
 * ```ts
 * import { StreamRequestHandler, ThreadingTCPServer, type ThreadingServerView } from "@sockserve/sockserve";
 *
 * class CountingServer extends ThreadingTCPServer {
 *   hits = new Int32Array(new SharedArrayBuffer(4)); // the same memory in every worker
 * }
 *
 * export class Counted extends StreamRequestHandler<ThreadingServerView & { hits: Int32Array }> {
 *   static override moduleUrl: string = import.meta.url;
 *   override async handle() {
 *     const visit = Atomics.add(this.server.hits, 0, 1) + 1;
 *     await this.wfile.write(`visit ${visit}\n`);
 *   }
 * }
 *
 * const server = new CountingServer(["127.0.0.1", 8000], Counted);
 * ```
 */
export interface ThreadingServerView {
  /** The address the server is bound to. */
  readonly serverAddress: SocketAddress;
  /** `"tcp"`, `"unix"`, `"udp"` or `"unixgram"`, for the socket servers. */
  readonly transport?: string;
  /** Every other data field of the server. */
  readonly [field: string]: unknown;
}

/** Copies the structured-cloneable data fields of `server` and its classes (nearest first), plus `transport`. */
export function snapshotServer(server: object): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  // `tls` holds private keys: they stay where connections are secured, and reach a forking child on their own path.
  const seen = new Set<string>(["constructor", "tls"]);
  for (
    let layer: object | null = server;
    layer !== null && layer !== Object.prototype;
    layer = Object.getPrototypeOf(layer)
  ) {
    for (const key of Object.getOwnPropertyNames(layer)) {
      if (seen.has(key)) continue;
      seen.add(key);
      const descriptor = Object.getOwnPropertyDescriptor(layer, key);
      if (descriptor === undefined || !("value" in descriptor)) continue;
      const value: unknown = descriptor.value;
      if (typeof value === "function" || typeof value === "symbol" || !isCloneable(value)) continue;
      view[key] = value;
    }
  }
  const transport = (server as { transport?: unknown }).transport;
  if (typeof transport === "string") view.transport = transport;
  return view;
}

function isCloneable(value: unknown): boolean {
  if (value === null || typeof value !== "object") return true;
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
