// Handlers the threading tests run in workers: a worker imports them by URL, so they live in a module of their own.
import { BaseRequestHandler, DatagramRequestHandler, StreamRequestHandler, type ThreadingServerView } from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Echoes bytes as they arrive, until the client half-closes. */
export class ThreadEcho extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const chunk = await this.rfile.read1(65536);
      if (chunk.length === 0) return;
      await this.wfile.write(chunk);
    }
  }
}

/** Echoes a datagram upper-cased. */
export class UpperDatagram extends DatagramRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.wfile.write(decoder.decode(this.packet).toUpperCase());
  }
}

/** Reads a line `N`, burns the CPU for N ms without yielding, answers `burned N`. */
export class Burner extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    const ms = Number(decoder.decode(await this.rfile.readline()).trim());
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // Busy: a thread of its own is the only way the server stays responsive.
    }
    await this.wfile.write(`burned ${ms}\n`);
  }
}

/** Throws from `handle()`. */
export class Thrower extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.rfile.readline();
    throw new RangeError("thrown on purpose in a worker");
  }
}

/**
 * Ends its worker thread with `close()` (Deno and Bun: a Web Worker's global; Node's workers have none), then waits:
 * the main thread sees the worker gone.
 */
export class Closer extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.rfile.readline();
    (globalThis as unknown as { close(): void }).close();
    await new Promise(() => {});
  }
}

/**
 * Echoes lines until the client closes; some lines cause a fault the handler's own promise chain never sees:
 * `throw` (an error thrown from a timer), `reject` (a floating promise that rejects), `exit` (`process.exit(5)` from
 * a timer), `exit-now` (`process.exit(7)` in the handler itself).
 */
export class Faulty extends StreamRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    for (;;) {
      const line = decoder.decode(await this.rfile.readline());
      if (line === "") return;
      const word = line.trim();
      const exit = (code: number) =>
        (globalThis as unknown as { process: { exit(code: number): never } }).process.exit(code);
      if (word === "throw") {
        setTimeout(() => {
          throw new Error("thrown from a timer on purpose");
        }, 0);
      } else if (word === "reject") {
        void (async () => {
          await new Promise((resolve) => setTimeout(resolve, 0));
          throw new Error("rejected on purpose");
        })();
      } else if (word === "exit") setTimeout(() => exit(5), 0);
      else if (word === "exit-now") exit(7);
      else await this.wfile.write(line);
    }
  }
}

/** Answers after a pause of `server.pauseMs` (300 ms by default). */
export class Slow extends StreamRequestHandler<ThreadingServerView> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.rfile.readline();
    const pause = typeof this.server.pauseMs === "number" ? this.server.pauseMs : 300;
    await new Promise((resolve) => setTimeout(resolve, pause));
    await this.wfile.write("late\n");
  }
}

/** Counts requests in a shared counter (`server.hits`, an Int32Array over a SharedArrayBuffer) and answers the count. */
export class Counter extends StreamRequestHandler<ThreadingServerView & { hits: Int32Array }> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.rfile.readline();
    const count = Atomics.add(this.server.hits, 0, 1) + 1;
    await this.wfile.write(`${count}\n`);
  }
}

/** Tells what the handler sees as its server, client and connection, as a JSON line. */
export class Describe extends StreamRequestHandler<ThreadingServerView> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.rfile.readline();
    const line = JSON.stringify({
      serverAddress: this.server.serverAddress,
      transport: this.server.transport,
      custom: this.server.custom,
      clientAddress: this.clientAddress,
      remoteAddress: this.connection.remoteAddress,
      frozen: Object.isFrozen(this.server),
    });
    await this.wfile.write(encoder.encode(line + "\n"));
  }
}

/** Writes `server.totalBytes` in 64 KiB chunks, keeping `server.progress[0]` at the KiB written so far. */
export class Firehose extends StreamRequestHandler<ThreadingServerView & { progress: Int32Array; totalBytes: number }> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    const chunk = new Uint8Array(65536).fill(0x61);
    for (let written = 0; written < this.server.totalBytes; written += chunk.length) {
      await this.wfile.write(chunk);
      Atomics.store(this.server.progress, 0, (written + chunk.length) / 1024);
    }
  }
}

/** Waits `server.pauseMs` before reading, then counts every byte until end of input and answers the count. */
export class LateCounter extends StreamRequestHandler<ThreadingServerView> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Number(this.server.pauseMs)));
    let total = 0;
    for (;;) {
      const chunk = await this.rfile.read1(65536);
      if (chunk.length === 0) break;
      total += chunk.length;
    }
    await this.wfile.write(`${total}\n`);
  }
}

/** Reads until the input ends and records how in `server.outcome[0]`: 1 for end of input, 2 for an error. */
export class InputWatcher extends StreamRequestHandler<ThreadingServerView & { outcome: Int32Array }> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    await this.wfile.write("ready\n");
    try {
      while ((await this.rfile.read1()).length > 0) {
        // Drain.
      }
      Atomics.store(this.server.outcome, 0, 1);
    } catch {
      Atomics.store(this.server.outcome, 0, 2);
    }
  }
}

/** A datagram handler that throws. */
export class DatagramThrower extends DatagramRequestHandler {
  static override moduleUrl: string = import.meta.url;

  override handle(): void {
    throw new TypeError("datagram handler failed on purpose");
  }
}

/** Leaves a timer ticking in its worker (`server.ticks[0]` counts), to show when the worker is really gone. */
export class Ticker extends StreamRequestHandler<ThreadingServerView & { ticks: Int32Array }> {
  static override moduleUrl: string = import.meta.url;

  override async handle(): Promise<void> {
    const ticks = this.server.ticks;
    setInterval(() => Atomics.add(ticks, 0, 1), 5);
    await this.wfile.write("ticking\n");
  }
}

/** Adds its request (a number, from a custom `BaseServer`) to `server.sum[0]`. */
export class Summer extends BaseRequestHandler<unknown, unknown, ThreadingServerView & { sum: Int32Array }> {
  static override moduleUrl: string = import.meta.url;

  override handle(): void {
    Atomics.add(this.server.sum, 0, Number(this.request));
  }
}
