/**
 * The messages between a worker adapter and the boot module it starts in the worker: how the worker gets its channel,
 * and how it reports a crash or an exit the runtime would not report by itself.
 *
 * @module
 */
import type { ErrorReport } from "../src/threading/error_report.ts";

/** The one message a boot module receives: what to import and call, and the channel to hand it. */
export interface BootRequest {
  /** The module to import. */
  readonly moduleUrl: string;
  /** The function it exports, called with `port`. */
  readonly exportName: string;
  /** The worker's end of the channel. */
  readonly port: unknown;
}

/** What a boot module tells its parent: an uncaught error, or an exit about to happen. */
export type BootNotice =
  | { readonly kind: "crash"; readonly error: ErrorReport }
  | { readonly kind: "exit"; readonly code: number };
