/**
 * Deno's API, typed by the few members the Deno adapter uses (so that published types do not depend on Deno's lib),
 * and the conversions between its addresses and this library's.
 *
 * @module
 */
import type { SocketAddress } from "../src/transport.ts";

/** An address as Deno gives it. */
export type DenoAddr =
  | { transport: "tcp" | "udp"; hostname: string; port: number }
  | { transport: "unix" | "unixpacket"; path: string };

/** A `Deno.Conn`. */
export interface DenoConn {
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(enabled?: boolean): void;
}

/** A `Deno.Listener`. */
export interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

/** A `Deno.DatagramConn`. */
export interface DenoDatagramConn {
  readonly addr: DenoAddr;
  receive(buffer?: Uint8Array): Promise<[Uint8Array, DenoAddr]>;
  send(data: Uint8Array, to: DenoAddr): Promise<number>;
  close(): void;
}

/** The members of `Deno` the adapter uses. */
export interface DenoApi {
  listen(options: Record<string, unknown>): DenoListener;
  listenDatagram?(options: Record<string, unknown>): DenoDatagramConn;
  readonly build: { readonly os: string };
  makeTempDirSync(options?: { prefix?: string }): string;
  removeSync(path: string, options?: { recursive?: boolean }): void;
  readonly permissions?: { querySync?(descriptor: { name: "ffi" }): { readonly state: string } };
  dlopen?(
    path: string,
    symbols: Record<string, { parameters: string[]; result: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => number> };
}

/** The `Deno` global. */
export function deno(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

/** A Deno address as a socket address: `[host, port]` or a path. */
export function toAddress(addr: DenoAddr): SocketAddress {
  return "path" in addr ? addr.path ?? "" : [addr.hostname, addr.port];
}
