/**
 * The runtime servers use when none is passed. `mod.ts` sets it to the detected one.
 *
 * @module
 */
import type { Runtime } from "./transport.ts";

let current: Runtime | undefined;

/** Sets the runtime adapter servers use when their options name none. */
export function setDefaultRuntime(runtime: Runtime): void {
  current = runtime;
}

/**
 * The runtime adapter servers use when their options name none.
 *
 * @throws {Error} when none was set (import the library through `mod.ts`, or pass `runtime` in the server's options)
 */
export function getDefaultRuntime(): Runtime {
  if (current === undefined) {
    throw new Error("no runtime adapter: import from mod.ts, or pass { runtime } in the server's options");
  }
  return current;
}
