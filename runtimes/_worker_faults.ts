/**
 * Fault containment inside a worker thread, shared by the boot modules of every runtime: an `AsyncLocalStorage`
 * that tags each request's work, listeners that catch uncaught errors and unhandled rejections so that the worker
 * goes on, and an `exit()` that fails the request calling it instead of ending the thread.
 *
 * What each runtime attributes (measured: Node 20, Deno 2.9, Bun 1.4): Node carries the context into the listeners of
 * both kinds of fault; Deno into those of rejections only (the listener of an error thrown from a timer runs in
 * whichever context was current last, often another request's, so on Deno such errors are not attributed); Bun into
 * those of uncaught errors only (rejections arrive without context). Web `error` / `unhandledrejection` listeners do
 * not keep a Bun worker alive, `process` listeners do (and on Node), so those are used there; Deno uses the web events.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { ExitInWorkerError } from "../src/errors.ts";
import type { WorkerFault, WorkerFaultHooks } from "../src/transport.ts";

type FaultEvent = { error?: unknown; reason?: unknown; preventDefault(): void };

interface FaultScope {
  addEventListener(type: "error" | "unhandledrejection", listener: (event: FaultEvent) => void): void;
  Deno?: { exit: (code?: number) => never };
  process?: {
    on(event: "uncaughtException" | "unhandledRejection", listener: (error: unknown) => void): void;
    exit: (code?: number) => never;
  };
}

const scope = globalThis as unknown as FaultScope;

/** The fault hooks of this worker, for the threading entry. */
export function workerFaultHooks(): WorkerFaultHooks {
  const context = new AsyncLocalStorage<number>();
  const tell = (listener: (fault: WorkerFault) => void, fault: WorkerFault): void => {
    try {
      listener(fault);
    } catch {
      // The listener only posts a message; if even that fails, the worker has nothing left to report with.
    }
  };
  return {
    withTag: (tag, body) => context.run(tag, body),
    listen(listener) {
      const process = scope.process;
      if (scope.Deno !== undefined || process === undefined) {
        // Deno: web events (they keep its workers alive; loading its `process` costs each worker ~40 ms). Its
        // context in an uncaught error's listener is stale: blaming it would fail an innocent request.
        scope.addEventListener("error", (event) => {
          event.preventDefault();
          tell(listener, { kind: "error", error: event.error, tag: undefined });
        });
        scope.addEventListener("unhandledrejection", (event) => {
          event.preventDefault();
          tell(listener, { kind: "rejection", error: event.reason, tag: context.getStore() });
        });
        return;
      }
      process.on("uncaughtException", (error) => tell(listener, { kind: "error", error, tag: context.getStore() }));
      process.on("unhandledRejection", (error) => {
        tell(listener, { kind: "rejection", error, tag: context.getStore() });
      });
    },
  };
}

/**
 * Makes `process.exit()` (`Deno.exit()` on Deno, which its `process.exit()` calls) throw {@link ExitInWorkerError}
 * in this worker: called in a handler, it fails that request alone instead of ending the thread and every request on
 * it.
 */
export function containExits(): void {
  const refuse = (code?: number): never => {
    throw new ExitInWorkerError(Number(code ?? 0));
  };
  if (scope.Deno !== undefined) scope.Deno.exit = refuse;
  else if (scope.process !== undefined) scope.process.exit = refuse;
}
