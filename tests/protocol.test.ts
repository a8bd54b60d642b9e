// Stream protocol handlers (the callback shape) in every mode: echo, half-close, backpressure both ways, and a
// throwing callback, over real sockets.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import {
  AsyncTCPServer,
  AsyncUnixStreamServer,
  type Connection,
  ForkingTCPServer,
  ForkingUnixStreamServer,
  type InetAddress,
  type SocketAddress,
  StreamProtocol,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  UnixStreamServer,
} from "../mod.ts";
import {
  type AnyHandlerClass,
  type AnyServer,
  connect,
  exchange,
  recordErrors,
  serving,
  sleep,
  socketPath,
  waitFor,
  within,
} from "./_helpers.ts";
import {
  BIG_WRITE_BYTES,
  BigWriter,
  EchoProtocol,
  FaultyProtocol,
  FLOOD_BYTES,
  HalfCloseProtocol,
  PausedCounter,
  UpperProtocol,
} from "./protocol_handlers.ts";

const HELLO = "hello world\n";

/** One mode on one transport: how to make a server of it. */
interface Mode {
  readonly name: string;
  /** Whether `handleError()` runs in this process (a forking server's children report their own errors). */
  readonly reportsHere: boolean;
  create(Handler: AnyHandlerClass, options?: Record<string, unknown>): AnyServer;
}

const tcp = (): InetAddress => ["127.0.0.1", 0];

const MODES: readonly Mode[] = [
  { name: "sync TCPServer", reportsHere: true, create: (H, o) => new TCPServer(tcp(), H, o) },
  { name: "sync UnixStreamServer", reportsHere: true, create: (H, o) => new UnixStreamServer(socketPath(), H, o) },
  { name: "AsyncTCPServer", reportsHere: true, create: (H, o) => new AsyncTCPServer(tcp(), H, o) },
  {
    name: "AsyncUnixStreamServer",
    reportsHere: true,
    create: (H, o) => new AsyncUnixStreamServer(socketPath(), H, o),
  },
  { name: "ThreadingTCPServer", reportsHere: true, create: (H, o) => new ThreadingTCPServer(tcp(), H, o) },
  {
    name: "ThreadingUnixStreamServer",
    reportsHere: true,
    create: (H, o) => new ThreadingUnixStreamServer(socketPath(), H, o),
  },
  {
    name: "ForkingTCPServer",
    reportsHere: false,
    create: (H, o) => new ForkingTCPServer(tcp(), H, { spareChildren: 1, ...o }),
  },
  {
    name: "ForkingUnixStreamServer",
    reportsHere: false,
    create: (H, o) => new ForkingUnixStreamServer(socketPath(), H, { spareChildren: 1, ...o }),
  },
];

/** Connects, stalls 200 ms without reading, then reads everything until the server closes, pausing 10 ms per MiB. */
async function slowRead(address: SocketAddress): Promise<Buffer> {
  const socket: net.Socket = await connect(address);
  socket.pause();
  await sleep(200);
  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sinceStall = 0;
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      sinceStall += chunk.length;
      if (sinceStall >= 1024 * 1024) {
        sinceStall = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 10);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
    socket.resume();
  });
}

/**
 * Floods `bytes` into the server and half-closes; after 250 ms (while the protocol has reading paused) returns how
 * many bytes were still waiting in this client, then the server's one-line answer.
 */
async function flood(address: SocketAddress, bytes: number): Promise<{ waiting: number; answer: string }> {
  const socket: net.Socket = await connect(address);
  const answer = new Promise<string>((resolve, reject) => {
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
  });
  const block = Buffer.alloc(1024 * 1024, 7);
  for (let sent = 0; sent < bytes; sent += block.length) socket.write(block);
  socket.end();
  await sleep(250);
  const waiting = socket.writableLength;
  return { waiting, answer: await answer };
}

for (const mode of MODES) {
  describe(`protocol handlers: ${mode.name}`, () => {
    test("echo, and connectionMade() writes first", async () => {
      await serving(mode.create(EchoProtocol), async (server) => {
        assert.equal(await exchange(server.serverAddress, HELLO), HELLO);
        assert.equal(await exchange(server.serverAddress, HELLO), HELLO);
      });
      await serving(mode.create(UpperProtocol), async (server) => {
        assert.equal(await exchange(server.serverAddress, "abc"), "made\nABC");
      });
    });

    test("half-close: the protocol goes on writing after the peer's end of input, then closes", async () => {
      await serving(mode.create(HalfCloseProtocol), async (server) => {
        assert.equal(await within(10_000, exchange(server.serverAddress, "abc")), "abctotal 3\nlate\n");
      });
    });

    test("a 16 MiB write to a slow reader: every byte arrives, with at most 1 MiB ever queued", async () => {
      await serving(mode.create(BigWriter), async (server) => {
        const received = await within(60_000, slowRead(server.serverAddress), "the 16 MiB read");
        const body = received.subarray(0, BIG_WRITE_BYTES);
        const trailer = received.subarray(BIG_WRITE_BYTES).toString("utf8");
        assert.equal(body.length, BIG_WRITE_BYTES);
        for (let i = 0; i < body.length; i += 4099) assert.equal(body[i], i & 255, `byte ${i}`);
        const match = trailer.match(/^\nmax=(\d+) pauses=(\d+)\n$/);
        assert.ok(match, `trailer ${JSON.stringify(trailer)}`);
        assert.ok(Number(match[1]) <= 1024 * 1024, `queued at most ${match[1]} bytes`);
        assert.ok(Number(match[2]) >= 1, "writing was paused at least once");
      });
    });

    test("a flood into a protocol that pauses reading: the server stops reading, then takes it all", async () => {
      await serving(mode.create(PausedCounter), async (server) => {
        const { waiting, answer } = await within(60_000, flood(server.serverAddress, FLOOD_BYTES), "the flood");
        // The kernel's buffers hold a few MiB at most: the rest must still wait in the client while reading is paused.
        assert.ok(waiting >= 8 * 1024 * 1024, `${waiting} bytes still waiting in the client`);
        assert.equal(answer, `during-pause=0 total=${FLOOD_BYTES}\n`);
      });
    });

    test("a throwing callback resets the connection and reaches handleError(); the server goes on", async () => {
      const server = mode.create(FaultyProtocol);
      const errors = recordErrors(server);
      await serving(server, async () => {
        const client = await connect(server.serverAddress);
        client.on("error", () => {});
        const closed = new Promise((resolve) => client.on("close", resolve));
        client.write("boom\n");
        await within(10_000, closed, "the close after the throw");
        if (mode.reportsHere) {
          await waitFor(() => errors.length === 1, 10_000, "handleError()");
          const [{ error, clientAddress, request }] = errors;
          assert.ok(error instanceof RangeError, String(error));
          assert.equal((error as Error).message, "boom on purpose");
          assert.notEqual(clientAddress, undefined);
          assert.equal(typeof (request as Connection).closeWrite, "function");
        } else assert.equal(errors.length, 0, "a child reports its own errors");
        assert.equal(await exchange(server.serverAddress, HELLO), HELLO);
      });
    });
  });
}

describe("protocol handlers: the server's hooks", () => {
  test("sync mode: a connection that sent and half-closed while another was served gets its bytes first", async () => {
    await serving(new TCPServer(tcp(), HalfCloseProtocol), async (server) => {
      const first = await connect(server.serverAddress);
      let firstText = "";
      first.setEncoding("utf8");
      first.on("data", (chunk: string) => (firstText += chunk));
      first.write("one");
      await waitFor(() => firstText === "one", 5000, "the first echo");
      // Served only once the first connection ends: its bytes and end of input wait in the reader meanwhile.
      const second = exchange(server.serverAddress, "two, waiting");
      await sleep(100);
      first.end();
      assert.equal(await within(10_000, second), "two, waitingtotal 12\nlate\n");
    });
  });

  test("verifyRequest() refuses before the protocol sees the connection", async () => {
    const server = new AsyncTCPServer(tcp(), UpperProtocol);
    server.verifyRequest = () => false;
    await serving(server, async () => {
      assert.equal(await exchange(server.serverAddress, "abc").catch(() => ""), "");
    });
  });

  test("serverClose() waits for open protocol connections, then drainTimeout resets them", async () => {
    const server = new AsyncTCPServer(tcp(), EchoProtocol, { drainTimeout: 200 });
    await server.listen();
    const loop = server.serveForever();
    const client = await connect(server.serverAddress);
    client.on("error", () => {});
    const closed = new Promise((resolve) => client.on("close", resolve));
    await waitFor(() => server.activeRequests === 1, 5000, "the connection to be served");
    const started = Date.now();
    await within(10_000, server.serverClose());
    assert.ok(Date.now() - started >= 150, "serverClose() waited for the open connection");
    await within(5000, closed, "the reset connection");
    await waitFor(() => server.activeRequests === 0, 5000, "the reset connection's request to end");
    await loop;
  });
  test("finish() follows connectionLost(), then shutdownRequest(); serverClose() ends with the last connection", async () => {
    const steps: string[] = [];
    class Traced extends EchoProtocol {
      override connectionLost(error: Error | null): void {
        steps.push(`lost ${error}`);
      }
      override finish(): void {
        steps.push("finish");
      }
    }
    // A handle() of its own (calling super) takes the promise path: the same order.
    class TracedOwnHandle extends Traced {
      override async handle(): Promise<void> {
        steps.push("handle");
        await super.handle();
      }
    }
    for (const Handler of [Traced, TracedOwnHandle]) {
      steps.length = 0;
      const server = new AsyncTCPServer(tcp(), Handler, { drainTimeout: 60_000 });
      const shutdown = server.shutdownRequest.bind(server);
      server.shutdownRequest = (request) => {
        steps.push("shutdownRequest");
        return shutdown(request);
      };
      await server.listen();
      const loop = server.serveForever();
      const client = await connect(server.serverAddress);
      await waitFor(() => server.activeRequests === 1, 5000, "the connection to be served");
      let closed = false;
      const closing = server.serverClose().then(() => void (closed = true));
      await sleep(100);
      assert.equal(closed, false, "serverClose() waits for the open connection");
      client.end();
      await within(10_000, closing, "serverClose() once the client left (not the 60 s drainTimeout)");
      const expected = ["lost null", "finish", "shutdownRequest"];
      assert.deepEqual(steps, Handler === TracedOwnHandle ? ["handle", ...expected] : expected);
      await loop;
    }
  });
});

describe("protocol handlers: the transport", () => {
  test("a peer's reset reaches connectionLost(error), not handleError(); writes after it are dropped", async () => {
    const lost: Array<Error | null> = [];
    class Watcher extends StreamProtocol {
      override connectionMade(): void {
        this.transport.write("hi\n");
      }
      override connectionLost(error: Error | null): void {
        lost.push(error);
        assert.equal(this.transport.write("too late"), true);
      }
    }
    const server = new AsyncTCPServer(tcp(), Watcher);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const socket = await connect(server.serverAddress);
      await within(10_000, new Promise((resolve) => socket.once("data", resolve)), "the greeting");
      socket.resetAndDestroy();
      await waitFor(() => lost.length === 1, 10_000, "connectionLost()");
      assert.ok(lost[0] instanceof Error, `connectionLost(${lost[0]})`);
      assert.equal(errors.length, 0);
    });
  });

  test("writeEof() half-closes (reading goes on; write() then throws), abort() resets, close() ends cleanly", async () => {
    const seen: string[] = [];
    class Closer extends StreamProtocol {
      override dataReceived(data: Uint8Array): void {
        const text = new TextDecoder().decode(data);
        seen.push(text);
        if (text === "eof") {
          this.transport.writeEof();
          assert.throws(() => this.transport.write("x"), /cannot write: the transport was half-closed/);
          seen.push("write after writeEof() threw");
        } else if (text === "abort") this.transport.abort();
        else if (text === "close") {
          this.transport.close();
          seen.push(`closing=${this.transport.closing}`);
        }
      }
      override eofReceived(): boolean {
        seen.push("eofReceived");
        return true;
      }
    }
    await serving(new AsyncTCPServer(tcp(), Closer), async (server) => {
      // writeEof: the client reads end of input, and can still send; its own end then closes the connection.
      const [host, port] = server.serverAddress;
      const half = net.connect({ host, port, allowHalfOpen: true });
      await within(10_000, new Promise((resolve) => half.once("connect", resolve)), "the connection");
      half.on("data", () => {});
      const ended = new Promise((resolve) => half.once("end", resolve));
      half.write("eof");
      await within(10_000, ended, "end of input after writeEof()");
      half.write("still read");
      await waitFor(() => seen.includes("still read"), 10_000, "bytes after writeEof()");
      const closed = new Promise((resolve) => half.once("close", resolve));
      half.end();
      await waitFor(() => seen.includes("eofReceived"), 10_000, "eofReceived()");
      await within(10_000, closed, "the close once both sides ended");
      // abort: a reset.
      const reset = await connect(server.serverAddress);
      const outcome = new Promise<string>((resolve) => {
        reset.once("error", (error: Error & { code?: string }) => resolve(error.code ?? "error"));
        reset.once("close", () => resolve("close"));
      });
      reset.write("abort");
      assert.match(await within(10_000, outcome), /^(ECONNRESET|close)$/);
      // close: the client sees a clean end.
      assert.equal(await exchange(server.serverAddress, "close"), "");
      assert.ok(seen.includes("closing=true"), seen.join(","));
      assert.ok(seen.includes("write after writeEof() threw"), seen.join(","));
    });
  });
});
