/**
 * What a handler running in a child process sees as `this.server`.
 *
 * @module
 */
import { snapshotServer } from "../threading/server_view.ts";
import type { SocketAddress } from "../transport.ts";

/**
 * The `server` of a handler running in a child process: a frozen copy of the server's data fields that are JSON
 * data (its address, options such as `timeout` or `maxPacketSize`, and any such field of a subclass), taken when the
 * server starts its children. Methods, getters and other values are not copied.
 *
 * This is where forking here differs from `fork()`: a child starts from a fresh module state, not from a copy of the
 * parent's memory. Module-level variables start from their initial values in every child, and what a request changes
 * is gone with its child (with `requestsPerChild` above 1, it lasts until the child ends).
 */
export interface ForkedServerView {
  /** The address the server is bound to. */
  readonly serverAddress: SocketAddress;
  /** `"tcp"`, `"unix"`, `"udp"` or `"unixgram"`, for the socket servers. */
  readonly transport?: string;
  /** Every other JSON data field of the server. */
  readonly [field: string]: unknown;
}

/** The JSON data fields of `server` (see {@link ForkedServerView}). */
export function snapshotForChild(server: object): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(snapshotServer(server))) {
    if (isJsonData(value, 0)) view[key] = value;
  }
  return view;
}

/** True for values JSON carries unchanged: primitives (finite numbers), arrays and plain objects of them. */
function isJsonData(value: unknown, depth: number): boolean {
  if (depth > 32) return false;
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object") return false;
  if (Array.isArray(value)) return value.every((item) => isJsonData(item, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  return Object.values(value).every((item) => isJsonData(item, depth + 1));
}
