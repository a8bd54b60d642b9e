/**
 * Duplicating a listening socket's descriptor, so that a listener can pause: a duplicate keeps the socket, and the
 * connections waiting in its backlog, alive while the runtime's listener object is stopped; a new listener object
 * started on the duplicate takes them in order. Bun only (through `bun:ffi`): Bun's listeners, native or `node:net`,
 * have no pause but start on a descriptor; Node's and Deno's `node:net` can do neither.
 *
 * @module
 */
import { linkSync, renameSync, rmSync } from "node:fs";

/** The two calls of the C library that pausing a listener needs. */
export interface Descriptors {
  /** `dup(2)`: a new descriptor for the same socket, or -1. */
  dup(fd: number): number;
  /** `close(2)`. */
  close(fd: number): number;
}

interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
    symbols: Record<string, (...args: number[]) => number>;
  };
}

/** In a variable, so that type checkers and Deno leave the Bun-only module alone. */
const FFI_MODULE = "bun:ffi";
let loaded: Promise<Descriptors | null> | undefined;

/** `dup` and `close` of the C library on Bun, or `null` elsewhere and where `bun:ffi` cannot reach them. */
export function loadDescriptors(): Promise<Descriptors | null> {
  if ((globalThis as { Bun?: unknown }).Bun === undefined) return Promise.resolve(null);
  loaded ??= import(FFI_MODULE).then((ffi: BunFfi) => {
    const libc = globalThis.process?.platform === "darwin" ? "libc.dylib" : "libc.so.6";
    const { symbols } = ffi.dlopen(libc, {
      dup: { args: ["i32"], returns: "i32" },
      close: { args: ["i32"], returns: "i32" },
    });
    return { dup: (fd: number) => symbols.dup(fd), close: (fd: number) => symbols.close(fd) };
  }).catch(() => null);
  return loaded;
}

/**
 * Stops a listener object while keeping its socket: duplicates `fd`, then calls `stop`. A unix socket's file, which
 * Bun removes when a listener made with its path stops, is kept by a hard link moved back in place. Returns the
 * duplicate, or -1 (nothing stopped) when it cannot be made.
 */
export function stopKeepingSocket(
  descriptors: Descriptors,
  fd: number | undefined,
  unixPath: string | undefined,
  stop: () => void,
): number {
  if (typeof fd !== "number" || fd < 0) return -1;
  const spare = descriptors.dup(fd);
  if (spare < 0) return -1;
  const aside = unixPath === undefined ? undefined : `${unixPath}.${globalThis.process?.pid}.paused`;
  try {
    if (aside !== undefined) linkSync(unixPath!, aside);
  } catch {
    descriptors.close(spare);
    return -1;
  }
  stop();
  if (aside !== undefined) {
    try {
      renameSync(aside, unixPath!);
    } catch {
      rmSync(aside, { force: true });
    }
  }
  return spare;
}

/** How long a listener that failed to start again on its duplicate waits before the next try, in milliseconds. */
export const RELISTEN_DELAY = 50;
