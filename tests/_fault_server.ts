// A threading server of Faulty handlers as a program of its own, for tests/threading_faults.test.ts: `bun test` makes
// any uncaught error in a worker fatal to that worker (its `process` listeners are not called), which a server run
// as a program does not. Prints `listening PORT`, then one JSON line per handleError() call; answers `stats` on
// stdin with the number of workers started; closes when stdin ends.
import process from "node:process";
import { createInterface } from "node:readline";
import { ThreadingTCPServer, WorkerFaultError } from "../mod.ts";
import { Faulty } from "./threading_handlers.ts";

/** What the test learns of one handleError() call. */
export interface FaultReport {
  readonly request: boolean;
  readonly clientAddress: unknown;
  readonly name: string;
  readonly message: string;
  readonly kind: string | null;
  readonly cause: string | null;
  readonly code: number | null;
}

const server = new ThreadingTCPServer(["127.0.0.1", 0], Faulty, { maxWorkers: 1 });
server.handleError = (request, clientAddress, error) => {
  const failure = error as Error & { code?: unknown };
  const report: FaultReport = {
    request: request !== null,
    clientAddress,
    name: failure.name,
    message: failure.message,
    kind: error instanceof WorkerFaultError ? error.kind : null,
    cause: failure.cause instanceof Error ? failure.cause.message : null,
    code: typeof failure.code === "number" ? failure.code : null,
  };
  console.log(JSON.stringify(report));
};
await server.listen();
const loop = server.serveForever();
console.log(`listening ${(server.serverAddress as [string, number])[1]}`);
const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (line.trim() === "stats") console.log(JSON.stringify({ workersStarted: server.workersStarted }));
});
input.on("close", async () => {
  await server.shutdown();
  await server.serverClose();
  await loop;
  process.exit(0);
});
