/**
 * The echo handlers of `examples/echo.ts`, in a module of their own so that worker threads and child processes can
 * import them by URL. They import the lean `handlers` entrypoint (`@sockserve/sockserve/handlers` or
 * `sockserve/handlers` for users), not `mod.ts`: every worker and child imports this module afresh, and the lean
 * entrypoint leaves out the runtime adapters and the `node:` modules they load.
 *
 * @module
 */
import process from "node:process";
import { DatagramRequestHandler, formatAddress, StreamRequestHandler } from "../handlers.ts";

/** Longest piece echoed at once: a longer line is echoed in pieces of this size, as it arrives. */
const PIECE = 65536;

/**
 * Echoes each line as it arrives, until the client closes its side. With the server's `whoami` field set, first says
 * `client HOST:PORT pid PID`: the client address (the PROXY source behind a load balancer) and the serving process.
 */
export class LineEcho extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    if ((this.server as { whoami?: boolean }).whoami) {
      await this.wfile.write(`client ${formatAddress(this.clientAddress)} pid ${process.pid}\n`);
    }
    for (;;) {
      const line = await this.rfile.readline(PIECE);
      if (line.length === 0) return;
      await this.wfile.write(line);
    }
  }
}

/** Sends each datagram back to its sender. */
export class DatagramEcho extends DatagramRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.wfile.write(this.packet);
  }
}
