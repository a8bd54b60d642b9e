/**
 * The life of one worker process of a {@link WorkerPool}, runtime-agnostic: build the ordinary async server the
 * primary asks for, with the handler class the worker loaded, serve until told to drain, then exit.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import { HandedSocket } from "../forking/handed_socket.ts";
import { AsyncTCPServer, AsyncUDPServer, AsyncUnixStreamServer } from "../mixins/async.ts";
import type { InetAddress, ParentChannel, Runtime, StreamListener, StreamSocket } from "../transport.ts";
import { HandedListener, handedTlsSupport } from "./handed_listener.ts";
import type { StartWorker, ToWorker } from "./protocol.ts";

/** What every server of a worker can do. */
interface WorkerServer {
  readonly serverAddress: unknown;
  listen(): Promise<unknown>;
  serveForever(): Promise<void>;
  shutdown(): Promise<void>;
  serverClose(): Promise<void>;
}

/**
 * Serves as a pool worker: says `ready`, waits for `start`, serves, and on `drain` (or when the primary is gone, or
 * `onStopSignal` fires) stops taking requests, lets those in flight finish within the pool's `drainTimeout`, and
 * exits with status 0. A server that cannot start is reported (`startFailed`) and the worker exits with status 1.
 *
 * @param channel the IPC channel to the primary
 * @param handlerClass the handler class, loaded
 * @param runtime the adapter of the runtime running the worker
 * @param onStopSignal registers what to run when the process is asked to stop (SIGTERM)
 */
export function serveAsPoolWorker(
  channel: ParentChannel,
  handlerClass: RequestHandlerClass<unknown, unknown>,
  runtime: Runtime,
  onStopSignal: (stop: () => void) => void = () => {},
): void {
  let server: WorkerServer | null = null;
  let handed: HandedListener | null = null;
  let stopping = false;

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (server !== null) {
      try {
        await server.shutdown();
        await server.serverClose();
      } catch (error) {
        console.error(`pool worker: closing failed:`, error);
      }
    }
    channel.exit(0);
  };

  const start = async (message: StartWorker): Promise<void> => {
    try {
      const built = buildServer(message, handlerClass, runtime, (listener) => (handed = listener));
      Object.assign(built, message.fields);
      server = built;
      await built.listen();
      void built.serveForever().catch((error) => {
        console.error(`pool worker: serving failed:`, error);
        channel.exit(1);
      });
      await channel.send({ type: "listening", address: built.serverAddress });
      if (stopping) await built.shutdown();
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      await channel.send({ type: "startFailed", error: text }).catch(() => {});
      channel.exit(1);
    }
  };

  channel.attach({
    message(message, socket) {
      const request = message as ToWorker;
      if (request.type === "start") void start(request);
      else if (request.type === "drain") void stop();
      else if (request.type === "connection" && socket !== null) {
        const wrapped: StreamSocket = new HandedSocket(socket, request.localAddress, request.remoteAddress);
        if (handed === null) wrapped.abort();
        else handed.push(wrapped);
      }
    },
    disconnect() {
      void stop();
    },
  });
  onStopSignal(() => void stop());
  void channel.send({ type: "ready" }).catch(() => channel.exit(0));
}

function buildServer(
  message: StartWorker,
  handlerClass: RequestHandlerClass<unknown, unknown>,
  runtime: Runtime,
  onHanded: (listener: HandedListener) => void,
): WorkerServer {
  const options = { ...message.options, runtime: workerRuntime(message, runtime, onHanded) };
  const handler = handlerClass as never;
  if (message.kind === "udp") {
    return new AsyncUDPServer(message.address as InetAddress, handler, {
      ...options,
      allowReusePort: message.spread === "reusePort",
    });
  }
  if (message.kind === "unix") return new AsyncUnixStreamServer(message.address as string, handler, options);
  return new AsyncTCPServer(message.address as InetAddress, handler, {
    ...options,
    allowReusePort: message.spread === "reusePort",
  });
}

/**
 * The runtime the worker's server uses: the real one when it binds by itself (reusePort); with `handOver`, one whose
 * listener is fed by the primary, and which leaves the primary's unix socket file alone.
 */
function workerRuntime(
  message: StartWorker,
  runtime: Runtime,
  onHanded: (listener: HandedListener) => void,
): Runtime {
  if (message.spread !== "handOver") return runtime;
  const listenStream = (): Promise<StreamListener> => {
    const listener = new HandedListener(message.address);
    onHanded(listener);
    return Promise.resolve(listener);
  };
  // A TLS server listens through its TLS support: handed connections are plain, and their handshake is the worker's.
  const tls = runtime.tls === undefined ? undefined : handedTlsSupport(runtime.tls, listenStream);
  return Object.create(runtime, {
    listenStream: { value: listenStream },
    tls: { value: tls },
    unixPathState: { value: () => Promise.resolve("absent") },
    removeFile: { value: () => Promise.resolve() },
  });
}
