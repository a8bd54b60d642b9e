// Handlers the PROXY protocol tests run in the main thread, in worker threads and in child processes: importable by
// URL, so in a module of their own.
import process from "node:process";
import { StreamRequestHandler } from "../handlers.ts";

/**
 * Says what it knows of the connection in one JSON line (the client address, the real peer, the header, the process),
 * then echoes lines until the client closes its side.
 */
export class ProxyReport extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    const header = this.request.proxyHeader;
    const report = {
      client: this.clientAddress,
      connectionClient: this.request.clientAddress,
      peer: this.request.remoteAddress,
      pid: process.pid,
      tls: this.request.tls?.protocol ?? null,
      header: header === null ? null : {
        version: header.version,
        command: header.command,
        protocol: header.protocol,
        source: header.source,
        destination: header.destination,
        authority: header.authority ?? null,
        uniqueId: header.uniqueId === undefined ? null : new TextDecoder().decode(header.uniqueId),
        crc32c: header.crc32c ?? null,
        rawLength: header.raw.length,
      },
    };
    await this.wfile.write(`${JSON.stringify(report)}\n`);
    for (;;) {
      const line = await this.rfile.readline();
      if (line.length === 0) return;
      await this.wfile.write(line);
    }
  }
}
