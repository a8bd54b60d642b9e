// Framing protocols on top of StreamProtocol: the line receiver (lines across chunk boundaries, over-long lines, raw
// mode, pausing) and the length-prefixed receiver, over real sockets, plus a property test of the line framing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  AsyncTCPServer,
  Connection,
  ForkingTCPServer,
  LineReceiver,
  LineTooLongError,
  MessageTooLongError,
  type SocketAddress,
  type StreamSocket,
  type StreamSocketEvents,
  TCPServer,
  ThreadingTCPServer,
} from "../mod.ts";
import { type AnyServer, connect, exchange, recordErrors, serving, sleep, waitFor, within } from "./_helpers.ts";
import { BodyLines, FramedLines, LineLengths, PausingLines, ShortLines, SizedMessages } from "./protocol_handlers.ts";

const local = (): [string, number] => ["127.0.0.1", 0];

/** Sends `pieces` one write each, `gap` ms apart (with TCP_NODELAY, so that they arrive as separate chunks). */
async function sendPieces(address: SocketAddress, pieces: readonly (string | Uint8Array)[], gap = 15): Promise<string> {
  const socket = await connect(address);
  socket.setNoDelay(true);
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (text += chunk));
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => {});
  for (const piece of pieces) {
    socket.write(piece);
    await sleep(gap);
  }
  socket.end();
  await within(30_000, closed, "the server's close");
  return text;
}

const MODES: ReadonlyArray<[string, (Handler: typeof FramedLines) => AnyServer]> = [
  ["TCPServer", (H) => new TCPServer(local(), H)],
  ["AsyncTCPServer", (H) => new AsyncTCPServer(local(), H)],
  ["ThreadingTCPServer", (H) => new ThreadingTCPServer(local(), H)],
  ["ForkingTCPServer", (H) => new ForkingTCPServer(local(), H, { spareChildren: 1 })],
];

describe("LineReceiver", () => {
  for (const [name, create] of MODES) {
    test(`${name}: lines across chunk boundaries, several in one chunk, and a last line without newline`, async () => {
      await serving(create(FramedLines), async (server) => {
        const reply = await sendPieces(server.serverAddress, ["he", "llo\nwor", "ld\n\nand", " more\r\n", "tail"]);
        assert.equal(reply, "[6:hello\\n][6:world\\n][1:\\n][10:and more\r\\n][4:tail]");
      });
    });
  }

  test("a line at the limit passes; one byte more fails with LineTooLongError in handleError()", async () => {
    const server = new AsyncTCPServer(local(), ShortLines);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const atLimit = "x".repeat(15) + "\n";
      assert.equal(
        await sendPieces(server.serverAddress, ["short\n", atLimit.slice(0, 7), atLimit.slice(7)]),
        `short\n${atLimit}`,
      );
      assert.equal(errors.length, 0);
      // Over the limit across two chunks, no newline yet: refused as soon as the 16th byte arrives.
      const reply = await sendPieces(server.serverAddress, ["ok\n", "y".repeat(10), "y".repeat(6), "never\n"]);
      assert.equal(reply, "ok\n");
      await waitFor(() => errors.length === 1, 5000, "handleError()");
      const error = errors[0].error;
      assert.ok(error instanceof LineTooLongError, String(error));
      assert.equal(error.limit, 16);
      // A newline past the limit in one chunk is refused too; the server goes on.
      assert.equal(await sendPieces(server.serverAddress, ["z".repeat(16) + "\n"]), "");
      await waitFor(() => errors.length === 2, 5000, "handleError()");
      assert.equal(await exchange(server.serverAddress, "after\n"), "after\n");
    });
  });

  test("the default limit is readline()'s: 65537 bytes with the newline", async () => {
    const server = new AsyncTCPServer(local(), LineLengths);
    const errors = recordErrors(server);
    await serving(server, async () => {
      assert.equal(await exchange(server.serverAddress, "a".repeat(65536) + "\n"), "65537\n");
      assert.equal(await exchange(server.serverAddress, "a".repeat(65537) + "\n").catch(() => ""), "");
      await waitFor(() => errors.length === 1, 5000, "handleError()");
      assert.ok(errors[0].error instanceof LineTooLongError);
      assert.equal((errors[0].error as LineTooLongError).limit, 65537);
    });
  });

  test("raw mode: a body after a header line, then lines again, in one chunk or split", async () => {
    await serving(new AsyncTCPServer(local(), BodyLines), async (server) => {
      const expected = "hello\n<raw:abcde>world\n";
      assert.equal(await exchange(server.serverAddress, "hello\nbody 5\nabcdeworld\n"), expected);
      // The body comes in as many raw chunks as the pieces arrived in: joined, it is the same.
      const split = await sendPieces(server.serverAddress, ["hello\nbo", "dy 5\nab", "cd", "eworld\n"]);
      assert.equal(split.replaceAll("><raw:", ""), expected);
    });
  });

  test("pausing reading in lineReceived() holds the rest of the chunk's lines until resumed", async () => {
    const server = new AsyncTCPServer(local(), PausingLines);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const reply = await exchange(server.serverAddress, "a\npause\nb\nc\n");
      const lines = reply.trimEnd().split("\n");
      assert.deepEqual(lines.map((line) => line.split("@")[0]), ["a", "pause", "b", "c"]);
      assert.ok(Number(lines[2].split("@")[1]) >= 60, `b came ${lines[2]} ms after the pause`);
      assert.equal(errors.length, 0, String(errors[0]?.error));
    });
  });
});

describe("LengthPrefixedReceiver", () => {
  const frame = (text: string): Uint8Array => {
    const body = new TextEncoder().encode(text);
    const out = new Uint8Array(4 + body.length);
    new DataView(out.buffer).setUint32(0, body.length);
    out.set(body, 4);
    return out;
  };
  const unframe = (bytes: Uint8Array): string[] => {
    const messages: string[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at < bytes.length;) {
      const length = view.getUint32(at);
      messages.push(new TextDecoder().decode(bytes.subarray(at + 4, at + 4 + length)));
      at += 4 + length;
    }
    return messages;
  };

  test("messages split anywhere, several in a chunk, an empty one", async () => {
    await serving(new AsyncTCPServer(local(), SizedMessages), async (server) => {
      const all = new Uint8Array([...frame("hello"), ...frame(""), ...frame("world!")]);
      const pieces = [all.subarray(0, 2), all.subarray(2, 7), all.subarray(7, 14), all.subarray(14)];
      const reply = await sendPieces(server.serverAddress, pieces);
      assert.deepEqual(unframe(new TextEncoder().encode(reply)), ["5:hello", "0:", "6:world!"]);
    });
  });

  test("an announced length over maxMessageLength fails with MessageTooLongError", async () => {
    const server = new AsyncTCPServer(local(), SizedMessages);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const reply = await sendPieces(server.serverAddress, [frame("ok"), frame("x".repeat(65))]);
      assert.deepEqual(unframe(new TextEncoder().encode(reply)), ["2:ok"]);
      await waitFor(() => errors.length === 1, 5000, "handleError()");
      const error = errors[0].error;
      assert.ok(error instanceof MessageTooLongError, String(error));
      assert.equal(error.length, 65);
      assert.equal(error.limit, 64);
    });
  });
});

/** A stream socket in memory: what it is fed goes to the connection; writes are recorded. */
class MemorySocket implements StreamSocket {
  readonly localAddress: SocketAddress = "/memory";
  readonly remoteAddress: SocketAddress = "";
  readonly bufferedAmount = 0;
  events: StreamSocketEvents | null = null;
  #closed = false;

  attach(events: StreamSocketEvents): void {
    this.events = events;
  }
  pause(): void {}
  resume(): void {}
  write(): boolean {
    return true;
  }
  closeWrite(): void {}
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.events?.close();
  }
  abort(): void {
    this.close();
  }
  setNoDelay(): void {}
}

class CollectingLines extends LineReceiver {
  lines: string[] = [];
  override lineReceived(line: Uint8Array): void {
    this.lines.push(new TextDecoder().decode(line));
  }
}

test("property: however the input is split into chunks, the lines are those of the whole input", async () => {
  const line = fc.string({ unit: fc.constantFrom("a", "b", "\r", "é", " "), maxLength: 12 });
  await fc.assert(
    fc.asyncProperty(
      fc.array(line, { maxLength: 12 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (lines, last, cuts) => {
        const input = new TextEncoder().encode(lines.join("\n") + (last && lines.length > 0 ? "\n" : ""));
        const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
        const socket = new MemorySocket();
        const protocol = new CollectingLines(new Connection(socket), "", null);
        protocol.setup();
        const life = protocol.handle();
        let from = 0;
        for (const point of [...points, input.length]) {
          if (point > from) socket.events!.data(input.slice(from, point));
          from = Math.max(from, point);
        }
        socket.events!.end();
        await life;
        const text = new TextDecoder().decode(input);
        const expected = text === "" ? [] : text.split(/(?<=\n)/);
        assert.deepEqual(protocol.lines, expected);
      },
    ),
    { numRuns: 300 },
  );
});
