/**
 * Inside a child process of a forking server: the IPC channel to the parent over `node:process`, and the start-up
 * that loads the handler class and serves the parent's requests (see `src/forking/child_loop.ts`).
 *
 * @module
 */
import net from "node:net";
import process from "node:process";
import { serveParent } from "../src/forking/child_loop.ts";
import { type HandlerLocation, loadHandlerClass, pickHandlerClass } from "../src/handler_location.ts";
import type { RequestHandlerClass } from "../src/base_request_handler.ts";
import type { ParentChannel, ParentChannelEvents, StreamSocket } from "../src/transport.ts";
import { nodeTls } from "./_node_stream.ts";
import { NodeStreamSocket } from "./_node_stream_socket.ts";

/**
 * Runs a child: finds the handler class (in `module`, the handler module already imported, or by importing
 * `location`), then serves the parent. A handler that cannot be found is reported to the parent (and on stderr), and
 * the child exits with status 1.
 *
 * @param location where the handler class lives
 * @param module the handler module's namespace, when the entry imported it statically (Deno)
 * @param role what to run: a forking server's child, or a worker of a worker pool
 */
export async function runChild(
  location: HandlerLocation,
  module?: Readonly<Record<string, unknown>>,
  role: "forking" | "pool" = "forking",
): Promise<void> {
  const channel = new ProcessChannel();
  let handlerClass: RequestHandlerClass<unknown, unknown>;
  try {
    handlerClass = module === undefined ? await loadHandlerClass(location) : pickHandlerClass(module, location);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`child process ${process.pid}: ${message}`);
    await channel.send({ type: "failed", error: message }).catch(() => {});
    channel.exit(1);
    return;
  }
  if (role === "pool") {
    // Loaded only here: a forking child never needs the adapters' server side.
    const { detectRuntime } = await import("./detect.ts");
    const { serveAsPoolWorker } = await import("../src/pool/worker_loop.ts");
    // The primary drains its workers on SIGINT (a terminal's Ctrl-C reaches the whole group); SIGTERM drains this one.
    process.on("SIGINT", () => {});
    serveAsPoolWorker(channel, handlerClass, detectRuntime(), (stop) => process.on("SIGTERM", stop));
  } else {
    serveParent(channel, handlerClass, nodeTls);
  }
}

/** The parent, through `process.send` and `process.on("message")`. */
class ProcessChannel implements ParentChannel {
  attach(events: ParentChannelEvents): void {
    process.on("message", (message: unknown, handle: unknown) => {
      events.message(message, handle === undefined || handle === null ? null : adopt(handle));
    });
    let disconnected = false;
    const disconnect = () => {
      if (disconnected) return;
      disconnected = true;
      events.disconnect();
    };
    process.on("disconnect", disconnect);
    // A parent killed while this child was starting may never be reported as a disconnect (seen on Deno): the child
    // then lived on, holding the parent's stderr open. Being reparented says the parent is gone, on every runtime.
    const parent = process.ppid;
    if (process.connected === false) queueMicrotask(disconnect);
    const watchdog = setInterval(() => {
      if (process.ppid !== parent) disconnect();
    }, 1000);
    (watchdog as { unref?: () => void }).unref?.();
  }

  send(message: unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (typeof process.send !== "function" || !process.connected) {
        reject(new Error("no IPC channel to the parent"));
        return;
      }
      process.send(message, undefined, undefined, (error: Error | null) => (error ? reject(error) : resolve()));
    });
  }

  exit(code: number): void {
    process.exit(code);
  }
}

/**
 * The received connection as a stream socket. Node and Deno send the bare handle, wrapped here so that the client's
 * FIN ends only the reading side (a handler may answer after it, as Python's can); Bun sends a `net.Socket`.
 */
function adopt(handle: unknown): StreamSocket {
  const socket = handle instanceof net.Socket
    ? handle
    : new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true } as net.SocketConstructorOpts);
  socket.allowHalfOpen = true;
  // A unix socket has no port; its real addresses come from the parent (HandedSocket).
  return new NodeStreamSocket(socket, socket.remotePort === undefined ? "" : undefined);
}
