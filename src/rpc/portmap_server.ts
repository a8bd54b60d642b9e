/**
 * `PortmapServer`: a portmapper (program 100000 version 2) of this library's own, on TCP and UDP at one port, for
 * machines without rpcbind.
 *
 * @module
 */
import type { Runtime } from "../transport.ts";
import { RpcDatagramHandler, RpcStreamHandler } from "./handlers.ts";
import { IPPROTO, PMAP_PORT, PMAP_PROG, PMAP_VERS, portmapProgram, PortmapTable } from "./portmap.ts";
import type { RpcProgram } from "./program.ts";
import { AsyncRpcTCPServer, AsyncRpcUDPServer, type RpcDatagramHandlerArgument } from "./servers.ts";

/** Options of {@link PortmapServer}. */
export interface PortmapServerOptions {
  /** Address to bind (default 127.0.0.1: a portmapper on other interfaces is an amplifier for others' floods). */
  host?: string;
  /** Port (default 111; 0 picks a free one, the same for TCP and UDP). */
  port?: number;
  /** Most mappings held (default 1024). */
  maxMappings?: number;
  /** The runtime adapter (default: the detected one). */
  runtime?: Runtime;
}

/**
 * A portmapper on TCP and UDP at the same port: NULL, SET, UNSET, GETPORT and DUMP of version 2 (SET and UNSET only
 * from this machine; CALLIT is not offered; versions 3 and 4 get PROG_MISMATCH (2, 2), which makes libtirpc clients
 * and rpcinfo fall back to version 2). Both transports share one table. It serves on the event loop.
 *
 * @example
 * ```ts ignore
 * await using portmapper = await new PortmapServer({ port: 111 }).listen();
 * void portmapper.serveForever();
 * ```
 */
export class PortmapServer {
  /** The mappings. */
  readonly table: PortmapTable;
  /** The TCP server. */
  readonly tcp: AsyncRpcTCPServer;
  /** The UDP server (bound to the TCP server's port). */
  udp: AsyncRpcUDPServer | undefined;
  readonly #host: string;
  readonly #port: number;
  readonly #runtime: Runtime | undefined;
  readonly #program: RpcProgram;
  readonly #datagramHandler: RpcDatagramHandlerArgument;

  /**
   * Makes the servers; `listen()` binds.
   *
   * @param options address, port and table size
   */
  constructor(options: PortmapServerOptions = {}) {
    this.table = new PortmapTable();
    if (options.maxMappings !== undefined) this.table.maxMappings = options.maxMappings;
    this.#host = options.host ?? "127.0.0.1";
    this.#port = options.port ?? PMAP_PORT;
    this.#runtime = options.runtime;
    const program = this.#program = portmapProgram(this.table);
    class PortmapStream extends RpcStreamHandler {
      static override programs: readonly RpcProgram[] = [program];
    }
    class PortmapDatagram extends RpcDatagramHandler {
      static override programs: readonly RpcProgram[] = [program];
    }
    this.#datagramHandler = PortmapDatagram;
    this.tcp = new AsyncRpcTCPServer([this.#host, this.#port], PortmapStream, {
      runtime: this.#runtime,
      drainTimeout: 5000,
    });
  }

  /** The portmapper program this server runs. */
  get program(): RpcProgram {
    return this.#program;
  }

  /** Binds TCP, then UDP at the same port. */
  async listen(): Promise<this> {
    await this.tcp.listen();
    const port = (this.tcp.serverAddress as [string, number])[1];
    this.udp = new AsyncRpcUDPServer([this.#host, port], this.#datagramHandler, {
      runtime: this.#runtime,
      drainTimeout: 5000,
    });
    try {
      await this.udp.listen();
    } catch (error) {
      await this.tcp.serverClose();
      throw error;
    }
    // The portmapper lists itself, as rpcbind does.
    this.table.set({ prog: PMAP_PROG, vers: PMAP_VERS, prot: IPPROTO.TCP, port });
    this.table.set({ prog: PMAP_PROG, vers: PMAP_VERS, prot: IPPROTO.UDP, port });
    return this;
  }

  /** The bound address (TCP's; UDP uses the same port). */
  get serverAddress(): readonly [string, number] {
    return this.tcp.serverAddress as [string, number];
  }

  /** Serves both transports until `shutdown()`. */
  async serveForever(): Promise<void> {
    if (this.udp === undefined) await this.listen();
    await Promise.all([this.tcp.serveForever(), this.udp!.serveForever()]);
  }

  /** Stops serving. */
  async shutdown(): Promise<void> {
    await Promise.all([this.tcp.shutdown(), this.udp?.shutdown()]);
  }

  /** Closes both servers. */
  async serverClose(): Promise<void> {
    await Promise.all([this.tcp.serverClose(), this.udp?.serverClose()]);
  }

  /** `serverClose()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.serverClose();
  }
}
