/**
 * Naming a handler class so that a Web Worker or a child process can import it.
 *
 * A worker or child starts from a fresh module state: it cannot receive a class, only where to import it from. A
 * handler class says where it lives with one line, `static override moduleUrl = import.meta.url;`, and is exported
 * from that module under its class name (or under `static exportName`).
 *
 * @module
 */
import type { RequestHandlerClass } from "./base_request_handler.ts";
import { HandlerLoadError } from "./errors.ts";

/** Where a handler class can be imported from. Plain data: it crosses a `MessagePort` or an IPC channel. */
export interface HandlerLocation {
  /** The module's URL (`file:`, `https:`, `data:` …). */
  readonly url: string;
  /** The name the module exports the class under. */
  readonly exportName: string;
}

/**
 * Tells where a handler class can be imported from, using its statics `moduleUrl` and `exportName` (default: the class
 * name).
 *
 * @throws {HandlerLoadError} when the class has no `moduleUrl`, or no name to export it under
 *
 * @example Where a worker or child process will import a handler from
 * ```ts
 * import { handlerLocation, StreamRequestHandler } from "@sockserve/sockserve";
 *
 * export class Echo extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url;
 * }
 * handlerLocation(Echo); // { url: "file:///.../echo.ts", exportName: "Echo" }
 * ```
 */
export function handlerLocation(handlerClass: RequestHandlerClass<never, never>): HandlerLocation {
  const name = handlerClass.exportName ?? handlerClass.name;
  const url = handlerClass.moduleUrl;
  if (typeof url !== "string" || url === "") {
    throw new HandlerLoadError(
      `${name || "the handler class"} cannot be imported by a worker or child process: ` +
        "add `static override moduleUrl = import.meta.url;` to the class and export it from that module",
    );
  }
  if (!name) {
    throw new HandlerLoadError(`the handler class from ${url} has no name: set \`static override exportName = "…"\``);
  }
  try {
    new URL(url);
  } catch {
    throw new HandlerLoadError(`moduleUrl of ${name} is not a URL: ${JSON.stringify(url)} (use import.meta.url)`);
  }
  return { url, exportName: name };
}

/**
 * Imports a handler class from where {@link handlerLocation} said it lives.
 *
 * @throws {HandlerLoadError} naming the module and the export when the module cannot be imported, lacks the export, or
 * exports something that is not a class
 */
export async function loadHandlerClass(location: HandlerLocation): Promise<RequestHandlerClass<unknown, unknown>> {
  let module: Record<string, unknown>;
  try {
    module = await import(location.url);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HandlerLoadError(
      `cannot import handler module ${location.url} to load ${location.exportName}: ${reason}`,
      { cause: error },
    );
  }
  return pickHandlerClass(module, location);
}

/**
 * Finds a handler class in a module already imported (its namespace object), where {@link handlerLocation} said it is.
 *
 * @throws {HandlerLoadError} naming the module and the export when the module lacks the export, or exports something
 * that is not a class
 */
export function pickHandlerClass(
  module: Readonly<Record<string, unknown>>,
  location: HandlerLocation,
): RequestHandlerClass<unknown, unknown> {
  const found = module[location.exportName];
  if (found === undefined) {
    const names = Object.keys(module).sort().join(", ") || "none";
    throw new HandlerLoadError(
      `handler module ${location.url} has no export named "${location.exportName}" (its exports: ${names})`,
    );
  }
  if (typeof found !== "function") {
    throw new HandlerLoadError(
      `export "${location.exportName}" of ${location.url} is a ${typeof found}, not a handler class`,
    );
  }
  return found as RequestHandlerClass<unknown, unknown>;
}
