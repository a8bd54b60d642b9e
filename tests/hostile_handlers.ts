// Handlers the hostile-client tests run in every mode (workers and child processes import them by URL).
import { StreamRequestHandler } from "../mod.ts";

/** How long {@link DelayedEcho} holds each line, in milliseconds. */
export const ECHO_DELAY = 600;

/** Echoes one line after {@link ECHO_DELAY} ms, then ends: a request that holds its slot for a while. */
export class DelayedEcho extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    const line = await this.rfile.readline();
    await new Promise((resolve) => setTimeout(resolve, ECHO_DELAY));
    await this.wfile.write(line);
  }
}
