// Slow and idle clients: a line begun must end within lineTimeout however its bytes trickle in; a read with no byte
// for idleTimeout fails; a well-behaved client (whole lines, idle or not) is never cut off by the defaults.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type net from "node:net";
import {
  AsyncTCPServer,
  BufferedReader,
  ConnectionLimitError,
  DEFAULT_LINE_TIMEOUT,
  type SocketAddress,
  SocketTimeoutError,
  StreamRequestHandler,
  TCPServer,
} from "../mod.ts";
import { closedByServer, connect, recordErrors, serving, sleep, SUPPORTED_KINDS, waitFor, within } from "./_helpers.ts";

const STREAM_KINDS = SUPPORTED_KINDS.filter((kind) => kind.stream);

describe("BufferedReader deadlines", () => {
  test("lineTimeout: a line trickling in a byte at a time fails its deadline, counted from its first byte", async () => {
    const reader = new BufferedReader();
    reader.lineTimeout = 150;
    const started = Date.now();
    const read = reader.readline();
    const state: { outcome?: Uint8Array | Error } = {};
    read.then((line) => (state.outcome = line), (error) => (state.outcome = error));
    await sleep(100); // nothing arrived yet: the deadline has not started
    assert.equal(state.outcome, undefined);
    const firstByte = Date.now();
    while (state.outcome === undefined && Date.now() - started < 3000) {
      reader.push(Uint8Array.of(0x61));
      await sleep(10);
    }
    const outcome = state.outcome as Uint8Array | Error | undefined;
    assert.ok(outcome instanceof SocketTimeoutError, String(outcome));
    assert.match(outcome.message, /line not complete 150 ms after its first byte/);
    assert.ok(Date.now() - firstByte >= 140, `failed ${Date.now() - firstByte} ms after the first byte`);
    reader.push(Uint8Array.of(0x0a));
    const rest = await reader.readline();
    assert.ok(rest.length >= 2 && rest[rest.length - 1] === 0x0a, "the bytes stay for a next read");
  });

  test("lineTimeout: reads of a size and complete lines are not limited", async () => {
    const reader = new BufferedReader();
    reader.lineTimeout = 50;
    const sized = reader.read(4);
    reader.push(Uint8Array.of(1));
    await sleep(120);
    reader.push(Uint8Array.of(2, 3, 4));
    assert.deepEqual([...(await sized)], [1, 2, 3, 4]);
    for (let i = 0; i < 5; i++) {
      const line = reader.readline();
      await sleep(30);
      reader.push(Uint8Array.of(0x62, 0x0a));
      assert.equal((await line).length, 2);
    }
  });

  test("idleTimeout: a read fails after that long with no byte; bytes arriving put it off", async () => {
    const reader = new BufferedReader();
    reader.idleTimeout = 100;
    const read = reader.read(3);
    for (let i = 0; i < 2; i++) {
      await sleep(60);
      reader.push(Uint8Array.of(i));
    }
    await sleep(60);
    reader.push(Uint8Array.of(2));
    assert.deepEqual([...(await read)], [0, 1, 2], "trickling at 60 ms is not idle");
    const idle = reader.readline();
    await assert.rejects(within(2000, idle), (error: Error) => {
      assert.ok(error instanceof SocketTimeoutError);
      assert.match(error.message, /no byte received for 100 ms/);
      return true;
    });
  });
});

describe("stream servers: defaults", () => {
  test("lineTimeout defaults to 60 s and idleTimeout to none", () => {
    const server = new TCPServer(["127.0.0.1", 0], StreamRequestHandler);
    assert.equal(DEFAULT_LINE_TIMEOUT, 60_000);
    assert.equal(server.lineTimeout, 60_000);
    assert.equal(server.idleTimeout, null);
  });
});

for (const kind of STREAM_KINDS) {
  describe(`${kind.name}: slow clients`, () => {
    const LineEcho = kind.handler({
      async handle(handler) {
        for await (const line of handler.rfile) await handler.wfile.write(line);
      },
    });

    test("a client trickling one line a byte at a time is cut off at lineTimeout, and reported", async () => {
      const server = kind.create(LineEcho, { lineTimeout: 300 });
      const errors = recordErrors(server);
      await serving(server, async () => {
        const socket = await connect(server.serverAddress);
        socket.on("error", () => {});
        const closed = closedByServer(socket);
        let sent = 0;
        let done = false;
        void closed.then(() => (done = true));
        const started = Date.now();
        while (!done && Date.now() - started < 5000) {
          if (!socket.destroyed) socket.write("x");
          sent++;
          await sleep(25);
        }
        assert.ok(done, "the server closed the connection");
        // Bytes went every 25 ms: had each put the deadline off, the connection would still be open.
        assert.ok(Date.now() - started >= 250, `closed after ${Date.now() - started} ms and ${sent} bytes`);
        await within(5000, waitFor(() => errors.length === 1), "the timeout reported");
        assert.ok(errors[0].error instanceof SocketTimeoutError, String(errors[0].error));
      });
    });

    test("idleTimeout cuts off a silent client; a client sending whole lines, slowly, stays", async () => {
      const server = kind.create(LineEcho, { idleTimeout: 600 });
      const errors = recordErrors(server);
      await serving(server, async () => {
        const silent = await connect(server.serverAddress);
        silent.on("error", () => {});
        const silentClosed = closedByServer(silent);
        const talker = await connect(server.serverAddress);
        let replies = "";
        talker.on("data", (data) => (replies += data));
        for (let i = 0; i < 8; i++) {
          talker.write(`line ${i}\n`);
          await sleep(100);
        }
        await within(5000, silentClosed, "the silent client cut off");
        await within(3000, waitFor(() => replies.split("\n").length === 9), "every reply");
        assert.equal(talker.destroyed, false, "the talking client is still connected");
        talker.destroy();
        await within(5000, waitFor(() => errors.length >= 1));
        assert.ok(errors.every(({ error }) => error instanceof SocketTimeoutError), JSON.stringify(errors));
      });
    });
  });
}

describe("AsyncTCPServer: connections per client address", () => {
  const Echo = class extends StreamRequestHandler {
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  };

  /** Connects and completes one echo, so that the connection is being served. */
  async function served(address: SocketAddress): Promise<net.Socket> {
    const socket = await connect(address);
    const reply = new Promise<string>((resolve) => socket.once("data", (data) => resolve(String(data))));
    socket.write("hi\n");
    assert.equal(await within(5000, reply, "an echo"), "hi\n");
    return socket;
  }

  test("beyond maxConnectionsPerAddress a connection is reset at once and reported; a closed one frees its place", async () => {
    const server = new AsyncTCPServer(["127.0.0.1", 0], Echo, { maxConnectionsPerAddress: 2 });
    const errors = recordErrors(server);
    await serving(server, async () => {
      const first = await served(server.serverAddress);
      const second = await served(server.serverAddress);
      // Reset at once: the client sees it while connecting, or right after.
      const third = connect(server.serverAddress).then((socket) => closedByServer(socket), (error) => error.code);
      assert.match(await within(5000, third, "the third connection refused"), /ECONNRESET|EPIPE|end|close/);
      await within(5000, waitFor(() => errors.length === 1));
      assert.ok(errors[0].error instanceof ConnectionLimitError, String(errors[0].error));
      assert.match(String(errors[0].error), /127\.0\.0\.1 already has 2 connections open/);
      assert.equal(server.activeRequests, 2, "the refused connection was never a request");
      first.destroy();
      await within(5000, waitFor(() => server.activeRequests === 1));
      const fourth = await within(5000, served(server.serverAddress), "a connection after one closed");
      second.destroy();
      fourth.destroy();
    });
  });
});
