// Handlers of the TLS tests that also run in workers and child processes: those import them by URL, so they live in
// a module of their own.
import { StreamRequestHandler } from "../mod.ts";

const decoder = new TextDecoder();

/** Echoes each line; at the end of input, answers what it saw of TLS (`tls PROTOCOL CLIENT-CN ALPN`). */
export class TlsEcho extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
    const tls = this.request.tls;
    await this.wfile.write(`tls ${tls?.protocol} ${tls?.peerCertificate?.subject.CN ?? "-"} ${tls?.alpnProtocol}\n`);
  }
}

/**
 * The STARTTLS pattern: echoes plain lines; on the line `STARTTLS` answers `READY` in plain text, upgrades, and echoes
 * over TLS, prefixing each line with `tls:`. A refused upgrade ends the request with its error.
 */
export class StartTlsEcho extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      if (decoder.decode(line) === "STARTTLS\n" && this.request.tls === null) {
        await this.startTls("READY\n");
        continue;
      }
      await this.wfile.write(this.request.tls === null ? line : `tls:${decoder.decode(line)}`);
    }
  }
}
