// Handlers the worker-pool tests run in worker processes: importable by URL, so in a module of their own.
import process from "node:process";
import { DatagramRequestHandler, StreamRequestHandler } from "../mod.ts";

/**
 * Line commands: `pid` (the worker's pid), `slow MS` (answers `done` after MS milliseconds), `exit` (the worker
 * process dies at once, status 3); anything else is echoed. Ends at the client's end of input.
 */
export class PoolCommands extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = new TextDecoder().decode(await this.rfile.readline());
      if (line === "") return;
      const command = line.trimEnd();
      if (command === "pid") await this.wfile.write(`${process.pid}\n`);
      else if (command.startsWith("slow ")) {
        await new Promise((resolve) => setTimeout(resolve, Number(command.slice(5))));
        await this.wfile.write("done\n");
      } else if (command === "exit") process.exit(3);
      else await this.wfile.write(line);
    }
  }
}

/** Answers each datagram with `PID:` and the datagram. */
export class PoolDatagramPid extends DatagramRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.wfile.write(`${process.pid}:${new TextDecoder().decode(this.packet)}`);
  }
}
