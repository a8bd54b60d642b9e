// Handlers the forking tests run in child processes: importable by URL, so in a module of their own.
import { writeFileSync } from "node:fs";
import process from "node:process";
import { DatagramRequestHandler, StreamRequestHandler } from "../mod.ts";

/** Requests this process served: the state a request changes, which the next request must not see. */
let served = 0;

/**
 * Line commands: `pid` (the child's pid), `count` (requests this process served, this one included), `crash` (the
 * handler throws), `hang` (never answers), `write PATH` (tries to write a file), `server` (the server view's
 * `greeting` field); anything else is echoed. Ends at the client's end of input.
 */
export class ForkCommands extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    served++;
    for (;;) {
      const line = new TextDecoder().decode(await this.rfile.readline());
      if (line === "") return;
      const command = line.trimEnd();
      if (command === "pid") await this.wfile.write(`${process.pid}\n`);
      else if (command === "count") await this.wfile.write(`${served}\n`);
      else if (command === "crash") throw new Error("crash requested by the test");
      else if (command === "hang") await new Promise(() => {});
      else if (command.startsWith("write ")) await this.wfile.write(`${tryWrite(command.slice(6))}\n`);
      else if (command === "server") {
        await this.wfile.write(`${String((this.server as Record<string, unknown>).greeting)}\n`);
      } else await this.wfile.write(line);
    }
  }
}

function tryWrite(path: string): string {
  try {
    writeFileSync(path, "written by a child\n");
    return "written";
  } catch (error) {
    return `refused: ${(error as Error).name}`;
  }
}

/** Echoes each datagram, prefixed with the child's pid: `PID:payload`. */
export class ForkDatagramEcho extends DatagramRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.wfile.write(`${process.pid}:`);
    await this.wfile.write(this.packet);
  }
}

/** For a custom server whose requests are JSON values: fails when the request says so (exit status 1). */
export class ForkValue {
  static moduleUrl: string = import.meta.url;
  readonly request: { fail?: boolean };

  constructor(request: unknown) {
    this.request = request as { fail?: boolean };
  }

  handle(): void {
    if (this.request.fail) throw new Error("this value request fails");
  }
}

/** Not exported under its class name: for the HandlerLoadError test. */
class Hidden extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;
  static override exportName = "NoSuchExport";
}
export { Hidden as RenamedHandler };
