// What handlers read and write: rfile (lines, limits, read/read1), wfile (large writes, buffering, timeouts), half-close,
// and datagrams larger than maxPacketSize.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  DatagramTooLargeError,
  DEFAULT_MAX_LINE_LENGTH,
  LineTooLongError,
  SocketTimeoutError,
  StreamRequestHandler,
} from "../mod.ts";
import {
  type AnyHandlerClass,
  type AnyServer,
  closedByServer,
  connect,
  exchange,
  LineClient,
  recordErrors,
  serving,
  sleep,
  SUPPORTED_KINDS,
  text,
  waitFor,
  within,
} from "./_helpers.ts";

const STREAM_KINDS = SUPPORTED_KINDS.filter((kind) => kind.stream);
const DATAGRAM_KINDS = SUPPORTED_KINDS.filter((kind) => !kind.stream);

const MIB = 1024 * 1024;

/** A deterministic, non-repeating-looking pattern of `size` bytes. */
function pattern(size: number): Uint8Array {
  const data = new Uint8Array(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

let sixteenMiB: { data: Uint8Array; sha256: string } | undefined;
/** 16 MiB of pattern and its digest, made once. */
function bigPayload(): { data: Uint8Array; sha256: string } {
  if (sixteenMiB === undefined) {
    const data = pattern(16 * MIB);
    sixteenMiB = { data, sha256: sha256(data) };
  }
  return sixteenMiB;
}

/** Connects, keeps the socket paused for `pauseMs`, then reads everything until the server closes. */
async function slowRead(address: unknown, pauseMs: number): Promise<{ data: Buffer; resumedAt: number }> {
  const socket = await connect(address as string);
  socket.pause();
  await sleep(pauseMs);
  const resumedAt = Date.now();
  const chunks: Buffer[] = [];
  await within(
    20000,
    new Promise<void>((resolve, reject) => {
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.once("end", resolve);
      socket.once("error", reject);
      socket.resume();
    }),
    "reading 16 MiB",
  );
  socket.destroy();
  return { data: Buffer.concat(chunks), resumedAt };
}

for (const kind of STREAM_KINDS) {
  describe(`${kind.name} wfile`, () => {
    test("a 16 MiB write from the handler arrives whole at a client that pauses before reading", async () => {
      const { data: payload, sha256: digest } = bigPayload();
      let writeDoneAt = 0;
      const Handler = kind.handler({
        async handle(handler) {
          await handler.wfile.write(payload);
          writeDoneAt = Date.now();
        },
      });
      const server = kind.create(Handler);
      const errors = recordErrors(server);
      await serving(server, async () => {
        const { data, resumedAt } = await slowRead(server.serverAddress, 200);
        assert.equal(data.length, payload.length);
        assert.equal(sha256(data), digest);
        assert.ok(writeDoneAt >= resumedAt, "write() resolved before the paused client took the bytes");
      });
      assert.deepEqual(errors, []);
    });

    // The write path depends on the transport, not on the mode: one TCP and one unix server cover it.
    if (kind.name === "TCPServer" || kind.name === "AsyncUnixStreamServer") {
      test("16 MiB written in 64 KiB pieces to a paused client keeps the server's send queue bounded", async () => {
        const { data: payload, sha256: digest } = bigPayload();
        let maxQueued = 0;
        const Handler = kind.handler({
          async handle(handler) {
            const connection = (handler as StreamRequestHandler).connection;
            for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
              await handler.wfile.write(payload.subarray(offset, offset + 64 * 1024));
              maxQueued = Math.max(maxQueued, connection.bufferedAmount);
            }
          },
        });
        await serving(kind.create(Handler), async (server) => {
          const { data } = await slowRead(server.serverAddress, 200);
          assert.equal(sha256(data), digest);
        });
        assert.ok(maxQueued <= 1 * MIB, `up to ${maxQueued} bytes were queued in the server`);
      });
    }

    test("with wbufsize > 0, small writes are held until finish() flushes them", async () => {
      class Buffered extends StreamRequestHandler {
        override wbufsize = 1024;
        override async handle(): Promise<void> {
          await this.wfile.write("hello ");
          await this.wfile.write("world\n");
          await this.rfile.readline(); // waits for the client's "go"
        }
      }
      await serving(kind.create(Buffered), async (server) => {
        const client = await LineClient.open(server.serverAddress);
        try {
          await sleep(150);
          assert.equal(client.pending, "", "buffered bytes were sent before finish()");
          client.send("go\n");
          assert.equal(await client.readLine(), "hello world\n");
          await client.ended();
        } finally {
          client.destroy();
        }
      });
    });

    test("with wbufsize > 0, a write that fills the buffer is sent at once, and flush() sends the rest", async () => {
      class Buffered extends StreamRequestHandler {
        override wbufsize = 1024;
        override async handle(): Promise<void> {
          await this.wfile.write("x".repeat(2000) + "\n");
          await this.rfile.readline();
          await this.wfile.write("flushed\n");
          await this.wfile.flush();
          await this.rfile.readline();
        }
      }
      await serving(kind.create(Buffered), async (server) => {
        const client = await LineClient.open(server.serverAddress);
        try {
          assert.equal(await client.readLine(), "x".repeat(2000) + "\n");
          client.send("next\n");
          assert.equal(await client.readLine(), "flushed\n");
          client.send("done\n");
          await client.ended();
        } finally {
          client.destroy();
        }
      });
    });

    test("disableNagleAlgorithm = true does not break anything", async () => {
      class NoDelay extends StreamRequestHandler {
        override disableNagleAlgorithm = true;
        override async handle(): Promise<void> {
          for await (const line of this.rfile) await this.wfile.write(line);
        }
      }
      await serving(kind.create(NoDelay), async (server) => {
        const client = await LineClient.open(server.serverAddress);
        try {
          for (let i = 0; i < 20; i++) {
            client.send(`line ${i}\n`);
            assert.equal(await client.readLine(), `line ${i}\n`);
          }
        } finally {
          client.destroy();
        }
      });
    });

    test("half-close: the client sends and half-closes; the server reads to the end, answers, then closes", async () => {
      const Handler = kind.handler({
        async handle(handler) {
          const question = text(await handler.rfile.read());
          await handler.wfile.write(`answer to ${question}`);
        },
      });
      await serving(kind.create(Handler), async (server) => {
        assert.equal(await exchange(server.serverAddress, "question one"), "answer to question one");
        assert.equal(await exchange(server.serverAddress, ""), "answer to ");
      });
    });
  });

  describe(`${kind.name} handler timeout`, () => {
    test("a read waiting longer than the handler's timeout (class field) → SocketTimeoutError in handleError", async () => {
      class Impatient extends StreamRequestHandler {
        override timeout: number | null = 100;
        override async handle(): Promise<void> {
          await this.wfile.write(await this.rfile.readline());
        }
      }
      const server = kind.create(Impatient);
      const errors = recordErrors(server);
      await serving(server, async () => {
        const silent = await connect(server.serverAddress);
        try {
          assert.match(await within(5000, closedByServer(silent)), /^(end|ECONNRESET|close)$/);
        } finally {
          silent.destroy();
        }
        assert.equal(await exchange(server.serverAddress, "quick\n"), "quick\n");
      });
      assert.equal(errors.length, 1);
      assert.ok(errors[0].error instanceof SocketTimeoutError, `got ${errors[0].error}`);
      assert.equal((errors[0].error as SocketTimeoutError).timeout, 100);
    });

    test("a write waiting longer than the handler's timeout for a client that does not read → SocketTimeoutError", async () => {
      class Impatient extends StreamRequestHandler {
        override timeout: number | null = 200;
        override async handle(): Promise<void> {
          await this.wfile.write(new Uint8Array(32 * MIB));
        }
      }
      const server = kind.create(Impatient);
      const errors = recordErrors(server);
      await serving(server, async () => {
        const stalled = await connect(server.serverAddress);
        stalled.pause();
        try {
          await within(10000, waitFor(() => errors.length === 1, 10000));
        } finally {
          stalled.destroy();
        }
      });
      assert.ok(errors[0].error instanceof SocketTimeoutError, `got ${errors[0].error}`);
    });
  });
}

/** A handler that runs `script` on its rfile and writes back the JSON of what it returned (errors as their name). */
function readerScript(
  kind: (typeof STREAM_KINDS)[number],
  script: (rfile: StreamRequestHandler["rfile"]) => Promise<unknown[]>,
): AnyHandlerClass {
  return kind.handler({
    async handle(handler) {
      let results: unknown[];
      try {
        results = await script(handler.rfile);
      } catch (error) {
        results = [`threw ${(error as Error).name}: ${(error as Error).message}`];
      }
      const shown = results.map((value) => (value instanceof Uint8Array ? text(value) : value));
      await handler.wfile.write(JSON.stringify(shown));
    },
  });
}

for (const kind of STREAM_KINDS) {
  describe(`${kind.name} rfile`, () => {
    async function run(
      payload: string,
      script: (rfile: StreamRequestHandler["rfile"]) => Promise<unknown[]>,
    ): Promise<unknown[]> {
      let reply = "";
      await serving(kind.create(readerScript(kind, script)), async (server) => {
        reply = await exchange(server.serverAddress, payload);
      });
      return JSON.parse(reply);
    }

    test("readline(limit) returns at most limit bytes, as Python does; the rest of the line comes next", async () => {
      assert.deepEqual(
        await run("hello world\nabc", async (rfile) => [
          await rfile.readline(5),
          await rfile.readline(),
          await rfile.readline(100),
          await rfile.readline(),
          await rfile.readline(0),
        ]),
        ["hello", " world\n", "abc", "", ""],
      );
    });

    test("a line of exactly maxLineLength bytes is returned; one byte more is a LineTooLongError", async () => {
      assert.deepEqual(
        await run("x".repeat(15) + "\n" + "y".repeat(16) + "\n", async (rfile) => {
          rfile.maxLineLength = 16;
          const first = await rfile.readline();
          const second = await rfile.readline().catch((error: Error) =>
            `${error.name} ${(error as LineTooLongError).limit}`
          );
          return [first, second];
        }),
        ["x".repeat(15) + "\n", "LineTooLongError 16"],
      );
    });

    test("async iteration yields each line, the last one without its newline", async () => {
      assert.deepEqual(
        await run("a\nb\n\nlast", async (rfile) => {
          const lines: Uint8Array[] = [];
          for await (const line of rfile) lines.push(line);
          return lines;
        }),
        ["a\n", "b\n", "\n", "last"],
      );
    });

    test("read(n), read1(n), read() to the end of input, then empty reads", async () => {
      const [three, some, rest, atEnd, read1AtEnd, lineAtEnd] = await run("0123456789", async (rfile) => [
        await rfile.read(3),
        await rfile.read1(4),
        await rfile.read(),
        await rfile.read(),
        await rfile.read1(),
        await rfile.readline(),
      ]) as string[];
      assert.equal(three, "012");
      assert.ok(
        some.length >= 1 && some.length <= 4 && "3456".startsWith(some),
        `read1(4) gave ${JSON.stringify(some)}`,
      );
      assert.equal(three + some + rest, "0123456789");
      assert.deepEqual([atEnd, read1AtEnd, lineAtEnd], ["", "", ""]);
    });

    test("read(n) waits for bytes that arrive in several pieces, and returns fewer only at the end of input", async () => {
      const Handler = readerScript(kind, async (rfile) => [await rfile.read(6), await rfile.read(100)]);
      await serving(kind.create(Handler), async (server) => {
        const client = await LineClient.open(server.serverAddress);
        try {
          client.send("ab");
          await sleep(30);
          client.send("cd");
          await sleep(30);
          client.send("efgh");
          await sleep(30);
          client.end();
          await client.ended();
          assert.equal(client.pending, JSON.stringify(["abcdef", "gh"]));
        } finally {
          client.destroy();
        }
      });
    });

    test("a line longer than rfile.maxLineLength → LineTooLongError in handleError; the server stays up", async () => {
      const Handler = kind.handler({
        setup(handler) {
          handler.rfile.maxLineLength = 1024;
        },
        async handle(handler) {
          for await (const line of handler.rfile) await handler.wfile.write(line);
        },
      });
      const server: AnyServer = kind.create(Handler);
      const errors = recordErrors(server);
      await serving(server, async () => {
        assert.equal(await exchange(server.serverAddress, "ok\n" + "z".repeat(5000) + "\n"), "ok\n");
        assert.equal(await exchange(server.serverAddress, "next\n"), "next\n");
      });
      assert.equal(errors.length, 1);
      assert.ok(errors[0].error instanceof LineTooLongError, `got ${errors[0].error}`);
      assert.equal((errors[0].error as LineTooLongError).limit, 1024);
      assert.match(String(errors[0].error), /raise rfile\.maxLineLength or pass a limit to readline\(limit\)/);
    });

    test(`the default limit is ${DEFAULT_MAX_LINE_LENGTH} bytes: such a line passes, a longer one fails`, async () => {
      const longest = "w".repeat(DEFAULT_MAX_LINE_LENGTH - 1) + "\n";
      assert.deepEqual(
        await run(longest + "v".repeat(DEFAULT_MAX_LINE_LENGTH + 10), async (rfile) => {
          const first = await rfile.readline();
          const second = await rfile.readline().catch((error: Error) => error.name);
          return [first.length, second];
        }),
        [DEFAULT_MAX_LINE_LENGTH, "LineTooLongError"],
      );
    });
  });
}

for (const kind of DATAGRAM_KINDS) {
  describe(`${kind.name} datagrams`, () => {
    const Echo = kind.handler({
      async handle(handler) {
        await handler.wfile.write(await handler.rfile.read());
      },
    });

    test("a datagram larger than maxPacketSize → DatagramTooLargeError in handleError, and the server goes on", async () => {
      const server = kind.create(Echo, { maxPacketSize: 100 });
      const errors = recordErrors(server);
      await serving(server, async () => {
        assert.equal(await kind.request(server.serverAddress, "L".repeat(150), 150), null);
        assert.equal(await kind.request(server.serverAddress, "M".repeat(100)), "M".repeat(100));
        assert.equal(await kind.request(server.serverAddress, "small"), "small");
      });
      assert.equal(errors.length, 1);
      const error = errors[0].error as DatagramTooLargeError;
      assert.ok(error instanceof DatagramTooLargeError, `got ${error}`);
      assert.ok(error.size >= 150, `size ${error.size}`);
      assert.equal(error.maxPacketSize, 100);
      assert.equal(errors[0].request, null);
      assert.ok(errors[0].clientAddress !== null, "the sender is named");
    });

    test("rfile reads the packet: lines, read(n) and read() to its end", async () => {
      const Handler = kind.handler({
        async handle(handler) {
          const first = await handler.rfile.readline();
          const two = await handler.rfile.read(2);
          const rest = await handler.rfile.read();
          await handler.wfile.write(
            JSON.stringify([text(first), text(two), text(rest), text(await handler.rfile.read())]),
          );
        },
      });
      await serving(kind.create(Handler), async (server) => {
        assert.equal(
          await kind.request(server.serverAddress, "line\nabcdef"),
          JSON.stringify(["line\n", "ab", "cdef", ""]),
        );
      });
    });

    test("an empty datagram is a request too, and an empty reply is sent when wfile was written", async () => {
      await serving(kind.create(Echo), async (server) => {
        assert.equal(await kind.request(server.serverAddress, new Uint8Array(0)), "");
      });
    });

    test("binary payloads arrive unchanged", async () => {
      const payload = pattern(4000);
      const Handler = kind.handler({
        async handle(handler) {
          await handler.wfile.write(sha256(await handler.rfile.read()));
        },
      });
      await serving(kind.create(Handler), async (server) => {
        assert.equal(await kind.request(server.serverAddress, payload), sha256(payload));
      });
    });
  });
}
