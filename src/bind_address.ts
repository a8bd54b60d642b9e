/**
 * Turning a server address into what a runtime binds: checked, resolved, and for unix paths, cleared of stale files.
 *
 * @module
 */
import { checkInetAddress, checkUnixPath, isIPv4, isIPv6 } from "./address.ts";
import { AddressInUseError } from "./errors.ts";
import type { InetAddress, Runtime } from "./transport.ts";

/**
 * Checks an `[host, port]` address and resolves its host to an IP literal (`"localhost"` → `"127.0.0.1"`).
 *
 * @throws {TypeError} for a malformed address or a host that does not resolve
 * @throws {RangeError} for a port outside 0–65535
 */
export async function resolveInetAddress(runtime: Runtime, address: unknown): Promise<InetAddress> {
  const [host, port] = checkInetAddress(address, "server address");
  if (isIPv4(host) || isIPv6(host)) return [host, port];
  try {
    const resolved = await runtime.lookupHost(host);
    return [resolved.address, port];
  } catch (error) {
    throw new TypeError(
      `server address: unknown host ${
        JSON.stringify(host)
      } (it does not resolve); use an IP address, "localhost" or a resolvable name`,
      { cause: error },
    );
  }
}

/**
 * Checks a unix socket path and makes it bindable: a stale socket file (nothing listening) is removed, a live one is
 * refused, and so is a file that is not a socket (it is never deleted).
 *
 * @throws {TypeError} or {RangeError} for a bad path; {@link AddressInUseError} when the path is taken
 */
export async function prepareUnixPath(
  runtime: Runtime,
  address: unknown,
  transport: "unix" | "unixgram",
): Promise<string> {
  const path = checkUnixPath(address, "server address");
  const state = await runtime.unixPathState(path, transport);
  if (state === "live") throw new AddressInUseError(path);
  if (state === "not-a-socket") throw new AddressInUseError(`${path} (it exists and is not a socket; not removed)`);
  if (state === "stale") await runtime.removeFile(path);
  return path;
}
