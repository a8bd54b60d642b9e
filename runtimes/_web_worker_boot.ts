/**
 * Runs first in every Web Worker started by `_web_worker.ts` (Deno and Bun): takes the channel from the first message,
 * imports the module asked for and calls the named export with the channel. Reports uncaught errors (with their
 * stack) and exits to the parent, which Deno does not do by itself for `Deno.exit()` or `close()` in a worker.
 *
 * @module
 */
import { reportError } from "../src/threading/error_report.ts";
import type { BootNotice, BootRequest } from "./_worker_boot_message.ts";

interface WorkerScope {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  addEventListener(type: "error", listener: (event: { error?: unknown; message?: string }) => void): void;
  addEventListener(type: "unhandledrejection", listener: (event: { reason?: unknown }) => void): void;
  close(): void;
  Deno?: { exit(code?: number): never };
}

const scope = globalThis as unknown as WorkerScope;

function notify(notice: BootNotice): void {
  scope.postMessage(notice);
}

function reportCrashes(): void {
  scope.addEventListener(
    "error",
    (event) => notify({ kind: "crash", error: reportError(event.error ?? event.message) }),
  );
  scope.addEventListener("unhandledrejection", (event) => notify({ kind: "crash", error: reportError(event.reason) }));
}

function reportExits(): void {
  const deno = scope.Deno;
  if (deno !== undefined) {
    const exit = deno.exit.bind(deno);
    deno.exit = (code = 0): never => {
      notify({ kind: "exit", code });
      return exit(code);
    };
  }
  if (typeof scope.close !== "function") return;
  const close = scope.close.bind(scope);
  scope.close = (): void => {
    notify({ kind: "exit", code: 0 });
    close();
  };
}

scope.onmessage = (event) => {
  scope.onmessage = null;
  reportCrashes();
  reportExits();
  const { moduleUrl, exportName, port } = event.data as BootRequest;
  void import(moduleUrl).then((module: Record<string, unknown>) => {
    const main = module[exportName];
    if (typeof main !== "function") throw new TypeError(`${moduleUrl} has no exported function ${exportName}`);
    main(port);
  });
};
