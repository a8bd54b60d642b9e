/**
 * Outgoing stream connections through `node:net`, on every runtime (Deno's and Bun's `node:net` are complete, as the
 * forking support and TLS rely on): the `connectStream` of the three adapters, for clients such as `RpcClient`.
 *
 * @module
 */
import net from "node:net";
import { formatAddress } from "../src/address.ts";
import type { StreamConnectOptions, StreamSocket } from "../src/transport.ts";
import { NodeStreamSocket } from "./_node_stream_socket.ts";

/** Connects; rejects with the runtime's error (ECONNREFUSED, ENOENT …) naming the address. */
export function nodeConnectStream(options: StreamConnectOptions): Promise<StreamSocket> {
  return new Promise((resolve, reject) => {
    const socket = options.transport === "unix"
      ? net.connect({ path: options.path, allowHalfOpen: true })
      : net.connect({ host: options.hostname, port: options.port, allowHalfOpen: true });
    socket.pause();
    const failed = (error: Error) => {
      socket.destroy();
      const where = options.transport === "unix" ? options.path : formatAddress([options.hostname, options.port]);
      reject(Object.assign(new Error(`cannot connect to ${where}: ${error.message}`, { cause: error }), {
        code: (error as { code?: string }).code,
      }));
    };
    socket.once("error", failed);
    socket.once("connect", () => {
      socket.off("error", failed);
      resolve(new NodeStreamSocket(socket, options.transport === "unix" ? options.path : undefined));
    });
  });
}
