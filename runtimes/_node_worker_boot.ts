/**
 * Runs first in every `worker_threads` worker started by `_node_worker.ts`: imports the module named in `workerData`
 * and calls the named export with the channel. An error here is uncaught, so the parent sees the worker fail.
 *
 * @module
 */
import { workerData } from "node:worker_threads";
import type { BootRequest } from "./_worker_boot_message.ts";

const { moduleUrl, exportName, port } = workerData as BootRequest;
const module = await import(moduleUrl) as Record<string, unknown>;
const main = module[exportName];
if (typeof main !== "function") throw new TypeError(`${moduleUrl} has no exported function ${exportName}`);
main(port);
