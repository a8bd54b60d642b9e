/**
 * Runs first in every `worker_threads` worker started by `_node_worker.ts`: imports the module named in `workerData`
 * and calls the named export with the channel and the fault hooks (`_worker_faults.ts`). An error while loading is
 * uncaught, so the parent sees the worker fail; after that, faults are the entry's to contain.
 *
 * @module
 */
import { workerData } from "node:worker_threads";
import type { BootRequest } from "./_worker_boot_message.ts";
import { containExits, workerFaultHooks } from "./_worker_faults.ts";

const { moduleUrl, exportName, port } = workerData as BootRequest;
const module = await import(moduleUrl) as Record<string, unknown>;
const main = module[exportName];
if (typeof main !== "function") throw new TypeError(`${moduleUrl} has no exported function ${exportName}`);
containExits();
main(port, workerFaultHooks());
