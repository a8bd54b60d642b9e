/**
 * Worker threads on Deno and Bun: module Web Workers (`new Worker(url, { type: "module" })`).
 *
 * The worker runs `_web_worker_boot.ts`, which receives its channel in one message, imports the module asked for, and
 * reports crashes and exits (which Deno does not report for `Deno.exit()` or `close()` in a worker).
 *
 * On Deno a worker has its parent's permissions (Deno's default; choosing others needs `--unstable-worker-options`).
 * Loading the worker's modules needs read access to them, so a server run with `--allow-net` alone also needs
 * `--allow-read` for the library's and the handlers' files.
 *
 * @module
 */
import { UnsupportedError } from "../src/errors.ts";
import { siblingModuleUrl } from "../src/module_url.ts";
import type { WorkerHandle, WorkerStartOptions } from "../src/transport.ts";
import { errorFromReport } from "../src/threading/error_report.ts";
import type { BootNotice, BootRequest } from "./_worker_boot_message.ts";

interface WebWorker {
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: string; preventDefault(): void }) => void) | null;
  addEventListener(type: "close", listener: (event: { code?: number }) => void): void;
  postMessage(message: unknown, transfer: unknown[]): void;
  terminate(): void;
}

type WebWorkerClass = new (url: string, options: { type: "module"; name: string }) => WebWorker;

/** How long an error event waits for the boot module's own report, which carries the stack. */
const CRASH_REPORT_GRACE = 50;

const BOOT_URL = siblingModuleUrl(import.meta.url, "_web_worker_boot");

/** Starts a module Web Worker running `options.moduleUrl`'s `options.exportName(port)`. */
export function startWebWorker(options: WorkerStartOptions): WorkerHandle {
  const WorkerClass = (globalThis as { Worker?: WebWorkerClass }).Worker;
  if (WorkerClass === undefined) {
    throw new UnsupportedError("this runtime has no global Worker: threads are not available");
  }
  const worker = new WorkerClass(BOOT_URL, { type: "module", name: options.name });
  let state: "running" | "dying" | "gone" = "running";
  let report: Error | undefined;
  const die = (reason: Error, delay: number): void => {
    if (state !== "running") return;
    state = "dying";
    setTimeout(() => {
      if (state !== "dying") return;
      state = "gone";
      worker.terminate();
      options.onExit(report ?? reason);
    }, delay);
  };
  worker.onmessage = (event) => {
    const notice = event.data as BootNotice;
    if (notice.kind === "crash") {
      report ??= errorFromReport(notice.error);
      die(report, 0);
    } else if (notice.kind === "exit") die(new Error(`the worker exited with code ${notice.code}`), 0);
  };
  worker.onerror = (event) => {
    // Unprevented, an error in a worker is rethrown in the parent: on Deno that would end the whole server.
    event.preventDefault();
    die(new Error(event.message ?? "uncaught error in the worker"), CRASH_REPORT_GRACE);
  };
  // Bun tells when a worker ends; Deno does not (the boot module reports exits there).
  worker.addEventListener("close", (event) => {
    die(new Error(`the worker exited with code ${event.code ?? "unknown"}`), CRASH_REPORT_GRACE);
  });
  const request: BootRequest = { moduleUrl: options.moduleUrl, exportName: options.exportName, port: options.port };
  worker.postMessage(request, [options.port]);
  return {
    terminate(): Promise<void> {
      if (state !== "gone") {
        state = "gone";
        worker.terminate();
      }
      return Promise.resolve();
    },
  };
}

/** CPU cores available, as `navigator.hardwareConcurrency` tells (Deno and Bun have it). */
export function webParallelism(): number {
  const count = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof count === "number" && count > 0 ? count : 1;
}
