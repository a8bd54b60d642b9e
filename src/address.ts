/**
 * Checking and formatting socket addresses, before any socket is made.
 *
 * @module
 */
import type { InetAddress, SocketAddress } from "./transport.ts";

/** The longest unix socket path Linux and macOS accept, in bytes (sun_path less its terminating NUL). */
export const MAX_UNIX_PATH_BYTES = 103;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True when `host` is an IPv4 literal such as `"127.0.0.1"`. */
export function isIPv4(host: string): boolean {
  return IPV4.test(host);
}

/** True when `host` is an IPv6 literal such as `"::1"` (brackets not included; a `%zone` suffix allowed). */
export function isIPv6(host: string): boolean {
  const [literal, zone] = host.split("%", 2);
  if (zone !== undefined && !/^[A-Za-z0-9_.-]+$/.test(zone)) return false;
  if (!/^[0-9A-Fa-f:.]+$/.test(literal) || !literal.includes(":")) return false;
  const tail = literal.includes(".") ? literal.slice(literal.lastIndexOf(":") + 1) : "";
  if (tail && !isIPv4(tail)) return false;
  const head = tail ? literal.slice(0, literal.length - tail.length) + "0:0" : literal;
  const halves = head.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  if (groups.some((group) => !/^[0-9A-Fa-f]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

function isHostName(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  return name.length > 0 && name.length <= 253 && name.split(".").every((label) => HOST_LABEL.test(label));
}

/**
 * Checks an `[host, port]` address and returns a normalized copy: `""` becomes `"0.0.0.0"` (all interfaces, as in
 * Python), a bracketed IPv6 literal loses its brackets.
 *
 * @throws {TypeError} when the value is not a `[string, integer]` pair or the host is not an IP literal or a host name
 * @throws {RangeError} when the port is outside 0–65535
 */
export function checkInetAddress(value: unknown, what = "address"): InetAddress {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new TypeError(`${what} must be a [host, port] pair such as ["127.0.0.1", 8000], got ${describe(value)}`);
  }
  const [host, port] = value as unknown[];
  if (typeof host !== "string") {
    throw new TypeError(
      `${what}: host must be a string ("127.0.0.1", "::1", "localhost" or "" for all), got ${describe(host)}`,
    );
  }
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw new TypeError(`${what}: port must be an integer 0-65535, got ${describe(port)}`);
  }
  if (port < 0 || port > 65535) throw new RangeError(`${what}: port must be 0-65535, got ${port}`);
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare === "") return ["0.0.0.0", port];
  if (!isIPv4(bare) && !isIPv6(bare) && !isHostName(bare)) {
    throw new TypeError(`${what}: host ${JSON.stringify(host)} is neither an IP address nor a valid host name`);
  }
  return [bare, port];
}

/**
 * Checks a unix socket path.
 *
 * @throws {TypeError} when it is not a string, is empty, or holds a NUL byte
 * @throws {RangeError} when it is longer than {@link MAX_UNIX_PATH_BYTES} bytes
 */
export function checkUnixPath(value: unknown, what = "unix socket path"): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string, got ${describe(value)}`);
  if (value === "") throw new TypeError(`${what} must not be empty`);
  if (value.includes("\0")) {
    throw new TypeError(`${what} must not contain a NUL byte (abstract sockets are not supported)`);
  }
  const bytes = new TextEncoder().encode(value).length;
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new RangeError(`${what} is ${bytes} bytes long; at most ${MAX_UNIX_PATH_BYTES} bytes are allowed`);
  }
  return value;
}

/** Formats an address for people: `127.0.0.1:8000`, `[::1]:8000`, or the unix path (`(unnamed)` for none). */
export function formatAddress(address: SocketAddress | null | undefined): string {
  if (address === null || address === undefined || address === "") return "(unnamed)";
  if (typeof address === "string") return address;
  const [host, port] = address;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return value === null ? "null" : typeof value === "object" ? "an object" : String(value);
}
