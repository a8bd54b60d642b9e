/**
 * The echo handlers of `examples/echo.ts`, in a module of their own so that worker threads and child processes can
 * import them by URL. They import the lean `handlers` entrypoint (`@sockserve/sockserve/handlers` or
 * `sockserve/handlers` for users), not `mod.ts`: every worker and child imports this module afresh, and the lean
 * entrypoint leaves out the runtime adapters and the `node:` modules they load.
 *
 * @module
 */
import process from "node:process";
import {
  DatagramProtocol,
  DatagramRequestHandler,
  formatAddress,
  type SocketAddress,
  StreamProtocol,
  StreamRequestHandler,
} from "../handlers.ts";

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

/**
 * The same echo in the callback shape (`--handler protocol`): each chunk is written back from the socket's callback,
 * as it arrives, with nothing awaited. A peer that does not read pauses reading until its side drains.
 */
export class ProtocolEcho extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;

  override dataReceived(data: Uint8Array): void {
    if (!this.transport.write(data)) this.transport.pauseReading();
  }

  override resumeWriting(): void {
    this.transport.resumeReading();
  }
}

/** Sends each datagram back to its sender: one object for the whole server (`--handler protocol`). */
export class DatagramProtocolEcho extends DatagramProtocol {
  override datagramReceived(data: Uint8Array, address: SocketAddress | null): void {
    this.transport.sendTo(data, address);
  }
}
