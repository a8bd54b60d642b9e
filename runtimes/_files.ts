/**
 * Host-name lookup and unix socket file checks, shared by the three adapters. Each runtime runs `node:dns`,
 * `node:fs` and `node:net` natively; none of this is on a hot path.
 *
 * @module
 */
import { lookup } from "node:dns/promises";
import { existsSync } from "node:fs";
import { lstat, rm } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { AddressInUseError } from "../src/errors.ts";
import type { ResolvedHost, UnixPathState } from "../src/transport.ts";

/** Resolves through the system resolver (`/etc/hosts` included), preferring IPv4 as Python's usual order does. */
export async function lookupHost(hostname: string): Promise<ResolvedHost> {
  const found = await lookup(hostname, { all: true });
  const best = found.find((entry) => entry.family === 4) ?? found[0];
  if (best === undefined) throw new Error(`no address for ${hostname}`);
  return { address: best.address, family: best.family === 6 ? 6 : 4 };
}

/**
 * Tells what a unix socket path holds. A stream connect tells a live listener from a stale file for both socket types:
 * a live datagram socket answers EPROTOTYPE, a dead one of either type ECONNREFUSED.
 */
export async function unixPathState(path: string): Promise<UnixPathState> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return "absent";
    throw error;
  }
  if (!isSocket) return "not-a-socket";
  return await new Promise<UnixPathState>((resolve) => {
    const probe = connect({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve("live");
    });
    probe.once("error", (error: Error & { code?: string }) => {
      probe.destroy();
      if (error.code === "ECONNREFUSED") resolve("stale");
      else if (error.code === "ENOENT") resolve("absent");
      else resolve("live");
    });
  });
}

/** Removes a file; a missing one is fine. */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * Maps an OS error from bind or listen to a clear one naming `address`. Pass `unixPath` when binding a unix socket:
 * libuv (Node) reports a path in a missing directory as EACCES, and a port hint would be wrong there.
 */
export function bindError(error: unknown, address: string, unixPath?: string): Error {
  const code = (error as { code?: string } | null)?.code ?? "";
  const name = (error as { name?: string } | null)?.name ?? "";
  if (code === "EADDRINUSE" || name === "AddrInUse") return new AddressInUseError(address, { cause: error });
  if ((code === "EACCES" || name === "PermissionDenied") && unixPath !== undefined && !existsSync(dirname(unixPath))) {
    return new Error(`cannot bind ${address}: its directory does not exist`, { cause: error });
  }
  if (code === "EACCES" || name === "PermissionDenied") {
    const hint = unixPath === undefined ? "ports below 1024 need privileges" : "its directory is not writable";
    return new Error(`permission denied binding ${address} (${hint})`, { cause: error });
  }
  if (code === "EADDRNOTAVAIL" || name === "AddrNotAvailable") {
    return new Error(`cannot bind ${address}: the address is not available on this machine`, { cause: error });
  }
  if (code === "ENOENT" || name === "NotFound") {
    return new Error(`cannot bind ${address}: its directory does not exist`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
