/**
 * The life every example server shares: build and listen (a failure is one line on stderr and exit status 2), print
 * `listening on ADDRESS`, serve until SIGINT or SIGTERM, then close (letting requests in flight finish). A worker pool
 * reloads on SIGHUP (one line on stderr when done).
 *
 * @module
 */
import process from "node:process";
import { formatAddress, type SocketAddress } from "../mod.ts";

/** What the examples need of a server. */
export interface ExampleServer {
  readonly serverAddress: unknown;
  listen(): Promise<unknown>;
  serveForever(): Promise<void>;
  shutdown(): Promise<void>;
  serverClose(): Promise<void>;
  /** A worker pool's zero-downtime reload, run on SIGHUP. */
  reload?(): Promise<void>;
  /** A worker pool's workers, named on stderr after a reload. */
  readonly workerPids?: readonly number[];
}

/**
 * Runs the server that `make` builds; resolves to the exit status.
 *
 * @param name the program's name, for its error line
 * @param make builds the server (a `UsageError`-like throw is reported the same way as a failed bind)
 */
export async function serveUntilSignal(name: string, make: () => ExampleServer): Promise<number> {
  let server: ExampleServer;
  try {
    server = make();
    await server.listen();
  } catch (error) {
    console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.shutdown();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const reload = () => {
    if (stopping || server.reload === undefined) return;
    server.reload().then(
      () => console.error(`${name}: reloaded; workers ${server.workerPids?.join(" ")}`),
      (error) => console.error(`${name}: reload failed, the old workers go on: ${(error as Error).message}`),
    );
  };
  if (server.reload !== undefined) process.on("SIGHUP", reload);
  console.log(`listening on ${formatAddress(server.serverAddress as SocketAddress)}`);
  await server.serveForever();
  await server.serverClose();
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  process.off("SIGHUP", reload);
  return 0;
}
