/**
 * The options and the interface of forking servers (`ForkingMixIn`), and their defaults.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import type { ChildExit } from "../transport.ts";

/** Default of {@link ForkingOptions.maxChildren}, Python's `max_children`. */
export const DEFAULT_MAX_CHILDREN = 40;
/** Default of {@link ForkingOptions.spareChildren}. */
export const DEFAULT_SPARE_CHILDREN = 2;

/** Options `ForkingMixIn` adds. Each may also be set as a subclass field or getter. */
export interface ForkingOptions {
  /**
   * Most child processes alive at once, spare ones included (Python's `max_children`, default 40). At the cap the
   * server takes no request until a child exits: connections wait in the listen backlog.
   */
  maxChildren?: number;
  /** Children kept started and idle, ready for the next requests (default 2). `0` starts each child on demand. */
  spareChildren?: number;
  /**
   * Requests one child serves, one after the other, before it exits (default 1: a fresh process for every request,
   * the original's isolation). A higher number saves process starts; a module-level state then lasts as long as the
   * child. `Infinity`: children never retire by themselves.
   */
  requestsPerChild?: number;
  /**
   * Deno command-line flags given to each child: its permissions, such as `["--allow-read=/srv/data",
   * "--allow-net=db.internal:5432"]`, and any other flag. Default `[]`: no permission at all. Bun and Node ignore it.
   */
  childPermissions?: readonly string[];
}

/** Options of `collectChildren()`. */
export interface CollectChildrenOptions {
  /** Wait until no child serves a request (Python's `blocking`). Default `false`. */
  blocking?: boolean;
}

/** What `ForkingMixIn` adds to a server. */
export interface ForkingServer {
  /** Most child processes alive at once (default 40). */
  maxChildren: number;
  /** Children kept started and idle (default 2). */
  spareChildren: number;
  /** Requests one child serves before it exits (default 1). */
  requestsPerChild: number;
  /** Deno flags of each child (default `[]`: no permission). */
  childPermissions: readonly string[];
  /** Process ids of the child processes alive: starting, idle, serving, or exiting (Python's `active_children`). */
  readonly activeChildren: ReadonlySet<number>;
  /**
   * Python's `collect_children`: forgets children that exited (done as they exit) and starts spare ones up to
   * `spareChildren`. With `{ blocking: true }`, first waits until no child serves a request. Called by
   * `serviceActions()` and `handleTimeout()`.
   */
  collectChildren(options?: CollectChildrenOptions): Promise<void>;
  /** Called in the parent after each child exits, with its status. Does nothing by default. */
  handleChildExit(exit: ChildExit): void | Promise<void>;
  /**
   * Serves `request` in a child process running the server's handler class, and resolves when the child is done
   * (a handler failure is reported in the child). A connection moves to the child with the bytes already read from
   * it and not consumed; write nothing more to it here. `finishRequest()` calls this; so may a handler running in
   * the parent, to finish the rest of its request in a child (see {@link ForkingServer.runInParent}).
   *
   * @throws {ChildProcessError} when the child ends before it finishes the request
   */
  handToChild(request: unknown, clientAddress: unknown): Promise<void>;
  /**
   * Runs `handlerClass` for `request` here, in the parent, reading the connection here; the handler may end the
   * request itself, or hand the rest to a child with `this.server.handToChild(this.request, this.clientAddress)`:
   * Python's pattern of finishing part of a request in a forked child.
   *
   * @example Quick requests in the parent, slow ones in a child
   * ```ts
   * import { type Connection, ForkingTCPServer, type SocketAddress, StreamRequestHandler } from "@sockserve/sockserve";
   *
   * // Runs in a child process: exported, with its module's URL (in a real program, in a module of its own).
   * export class SlowJob extends StreamRequestHandler {
   *   static override moduleUrl: string = import.meta.url;
   *   override async handle() {
   *     for await (const line of this.rfile) await this.wfile.write(line); // the lines after the first one
   *   }
   * }
   *
   * // Runs in the parent, for every request: answers PING itself, hands anything else to a child.
   * class Triage extends StreamRequestHandler<ForkingTCPServer> {
   *   override async handle() {
   *     const line = new TextDecoder().decode(await this.rfile.readline());
   *     if (line === "PING\n") return void (await this.wfile.write("PONG\n"));
   *     await this.server.handToChild(this.request, this.clientAddress); // the first line is consumed; the rest goes
   *   }
   * }
   *
   * class TriageServer extends ForkingTCPServer {
   *   override finishRequest(request: Connection, clientAddress: SocketAddress): Promise<void> {
   *     return this.runInParent(request, clientAddress, Triage);
   *   }
   * }
   *
   * const server = new TriageServer(["127.0.0.1", 8000], SlowJob);
   * ```
   */
  runInParent(
    request: unknown,
    clientAddress: unknown,
    handlerClass: RequestHandlerClass<never, never>,
  ): Promise<void>;
}
