/**
 * Worker threads on Node: `node:worker_threads`. The worker runs `_node_worker_boot.ts`, which finds its channel in
 * `workerData`, imports the module asked for and calls the named export with the channel.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { type TransferListItem, Worker } from "node:worker_threads";
import { siblingModuleUrl } from "../src/module_url.ts";
import type { WorkerHandle, WorkerStartOptions } from "../src/transport.ts";
import type { BootRequest } from "./_worker_boot_message.ts";

const BOOT_URL = new URL(siblingModuleUrl(import.meta.url, "_node_worker_boot"));

/** Starts a `worker_threads` worker running `options.moduleUrl`'s `options.exportName(port)`. */
export function startNodeWorker(options: WorkerStartOptions): WorkerHandle {
  const workerData: BootRequest = { moduleUrl: options.moduleUrl, exportName: options.exportName, port: options.port };
  const worker = new Worker(BOOT_URL, {
    workerData,
    transferList: [options.port as unknown as TransferListItem],
    name: options.name,
  });
  let gone = false;
  worker.on("error", (error: Error) => {
    if (gone) return;
    gone = true;
    void worker.terminate();
    options.onExit(error);
  });
  worker.on("exit", (code: number) => {
    if (gone) return;
    gone = true;
    options.onExit(new Error(`the worker exited with code ${code}`));
  });
  return {
    async terminate(): Promise<void> {
      gone = true;
      await worker.terminate();
    },
  };
}

/** CPU cores available to this process (`os.availableParallelism()`). */
export function nodeParallelism(): number {
  return availableParallelism();
}
