/**
 * Runs first in every Web Worker started by `_web_worker.ts` (Deno and Bun): takes the channel from the first message,
 * imports the module asked for and calls the named export with the channel and the fault hooks
 * (`_worker_faults.ts`). Until the entry takes the hooks, it reports uncaught errors (with their stack) to the parent
 * as crashes; it reports `close()` in the worker as an exit, which Deno does not do by itself.
 *
 * @module
 */
import { reportError } from "../src/threading/error_report.ts";
import type { WorkerFaultHooks } from "../src/transport.ts";
import type { BootNotice, BootRequest } from "./_worker_boot_message.ts";
import { containExits, workerFaultHooks } from "./_worker_faults.ts";

type Listener = (event: { error?: unknown; message?: string; reason?: unknown }) => void;

interface WorkerScope {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  addEventListener(type: "error" | "unhandledrejection", listener: Listener): void;
  removeEventListener(type: "error" | "unhandledrejection", listener: Listener): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;

function notify(notice: BootNotice): void {
  scope.postMessage(notice);
}

/** Reports uncaught errors as crashes; returns what stops it. */
function reportCrashes(): () => void {
  const onError: Listener = (event) => notify({ kind: "crash", error: reportError(event.error ?? event.message) });
  const onRejection: Listener = (event) => notify({ kind: "crash", error: reportError(event.reason) });
  scope.addEventListener("error", onError);
  scope.addEventListener("unhandledrejection", onRejection);
  return () => {
    scope.removeEventListener("error", onError);
    scope.removeEventListener("unhandledrejection", onRejection);
  };
}

function reportCloses(): void {
  if (typeof scope.close !== "function") return;
  const close = scope.close.bind(scope);
  scope.close = (): void => {
    notify({ kind: "exit", code: 0 });
    close();
  };
}

scope.onmessage = (event) => {
  scope.onmessage = null;
  const stopReporting = reportCrashes();
  reportCloses();
  const { moduleUrl, exportName, port } = event.data as BootRequest;
  void import(moduleUrl).then((module: Record<string, unknown>) => {
    const main = module[exportName];
    if (typeof main !== "function") throw new TypeError(`${moduleUrl} has no exported function ${exportName}`);
    containExits();
    const hooks = workerFaultHooks();
    const faults: WorkerFaultHooks = {
      withTag: hooks.withTag,
      listen(listener) {
        stopReporting();
        hooks.listen(listener);
      },
    };
    main(port, faults);
  });
};
