/**
 * The constructor type mix-ins accept.
 *
 * @module
 */
import type { BaseServer } from "../base_server.ts";

/** Any server class: what a mix-in such as `AsyncMixIn` extends. */
// deno-lint-ignore no-explicit-any
export type ServerClass = new (...args: any[]) => BaseServer<any, any, any>;
