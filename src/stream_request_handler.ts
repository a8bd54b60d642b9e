/**
 * `StreamRequestHandler`: `rfile` and `wfile` over one connection.
 *
 * @module
 */
import { BaseRequestHandler } from "./base_request_handler.ts";
import type { BufferedReader } from "./buffered_reader.ts";
import type { Connection } from "./connection.ts";
import type { TlsInfo } from "./tls/info.ts";
import { RESOLVED } from "./resolved.ts";
import { SocketWriter } from "./socket_writer.ts";
import type { SocketAddress } from "./transport.ts";

/**
 * Settings of {@link StreamRequestHandler} that a subclass may change with a class field or a getter. Declared in an
 * interface merged with the class, so that TypeScript accepts both forms of override.
 */
export interface StreamRequestHandler<Server = unknown> {
  /** Milliseconds a read or write may wait before failing with `SocketTimeoutError`; `null` (default) waits forever. */
  timeout: number | null;
  /** Bytes `wfile` gathers before sending; 0 (default) sends each write at once. */
  wbufsize: number;
  /** Set TCP_NODELAY on the connection (default `false`). */
  disableNagleAlgorithm: boolean;
}

/**
 * The handler of TCP and unix stream servers. `setup()` makes {@link StreamRequestHandler.rfile} (a buffered reader)
 * and {@link StreamRequestHandler.wfile} (a writer that sends everything); `finish()` flushes `wfile`.
 *
 * Set options as class fields or getters, as in Python: `timeout`, `wbufsize`, `disableNagleAlgorithm`.
 *
 * @example A line echo handler
 * ```ts ignore
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * ```
 */
export class StreamRequestHandler<Server = unknown> extends BaseRequestHandler<Connection, SocketAddress, Server> {
  static {
    this.prototype.timeout = null;
    this.prototype.wbufsize = 0;
    this.prototype.disableNagleAlgorithm = false;
  }

  /** The connection (the same object as `request`). Set by `setup()`. */
  connection!: Connection;
  /** Buffered reader over what the client sends. Set by `setup()`. */
  rfile!: BufferedReader;
  /** Writer to the client. Set by `setup()`. */
  wfile!: SocketWriter;

  /**
   * Makes `rfile` and `wfile` and applies `timeout` and `disableNagleAlgorithm`, and the server's `lineTimeout` and
   * `idleTimeout` (see `TCPServerOptions`) to `rfile`.
   */
  override setup(): void | Promise<void> {
    const connection = this.request;
    this.connection = connection;
    const reader = connection.reader;
    const timeout = this.timeout;
    if (timeout !== null) {
      connection.timeout = timeout;
      reader.timeout = timeout;
    }
    // Read from the server (or, in a worker or child, its copy): absent on servers of other kinds.
    const { lineTimeout, idleTimeout } = (this.server ?? {}) as { lineTimeout?: unknown; idleTimeout?: unknown };
    if (typeof lineTimeout === "number") reader.lineTimeout = lineTimeout;
    if (typeof idleTimeout === "number") reader.idleTimeout = idleTimeout;
    if (this.disableNagleAlgorithm) connection.setNoDelay(true);
    this.rfile = connection.reader;
    this.wfile = new SocketWriter(connection, this.wbufsize);
  }

  /**
   * Upgrades the connection to TLS after a plain exchange (STARTTLS: SMTP, IMAP, LDAP), on a server whose `tls` option
   * has `mode: "starttls"`; in every mode. Flushes `wfile`, stops reading, sends `response` (the answer to the
   * upgrade command) in plain text, and runs the handshake; refuses, closing the connection, when the client sent
   * anything after its command (CVE-2011-0411). See `Connection.startTls()`.
   *
   * @param response the answer to the upgrade command
   * @example Answer the command and upgrade
   * ```ts ignore
   * if (line === "STARTTLS\n") await this.startTls("READY\n");
   * ```
   */
  async startTls(response?: string | Uint8Array): Promise<TlsInfo> {
    await this.wfile.flush();
    return await this.request.startTls(response);
  }

  /** Flushes and closes `wfile` (a failed flush is ignored, as in Python: the peer may be gone). */
  override finish(): void | Promise<void> {
    const closing = this.wfile.close();
    // Nothing was buffered: done, without a turn of the promise queue.
    if (closing === RESOLVED) return;
    return closing.catch(() => {
      // The peer went away; there is nobody left to tell.
    });
  }
}
