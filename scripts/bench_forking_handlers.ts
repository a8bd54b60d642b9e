/**
 * A handler for `scripts/bench_forking.ts` that imports only the module it extends, not `mod.ts`: the difference
 * between the two shows what a child process spends loading a handler module and everything it imports.
 *
 * @module
 */
import { StreamRequestHandler } from "../src/stream_request_handler.ts";

/** `examples/echo_handlers.ts`'s `LineEcho`, with a lean import: echoes each line until the client closes. */
export class LeanLineEcho extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = await this.rfile.readline(65536);
      if (line.length === 0) return;
      await this.wfile.write(line);
    }
  }
}
