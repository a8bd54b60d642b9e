// Datagram protocol handlers: one object per server, each datagram in the socket's callback, over real sockets.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DatagramProtocol,
  type DatagramTransport,
  NoClientAddressError,
  type SocketAddress,
  UDPProtocolServer,
  UnixDatagramProtocolServer,
  UnsupportedError,
} from "../mod.ts";
import {
  HAS_UNIX_DATAGRAM,
  recordErrors,
  serving,
  socketPath,
  udpExchange,
  unixDatagramExchange,
  waitFor,
} from "./_helpers.ts";

const decoder = new TextDecoder();

/** Counts its instances and events; answers each datagram upper-cased, throws on `boom`. */
class Upper extends DatagramProtocol {
  static made = 0;
  received = 0;
  madeWith: DatagramTransport | undefined;
  lost: Array<Error | null> = [];

  constructor(server: unknown) {
    super(server);
    Upper.made++;
  }

  override connectionMade(transport: DatagramTransport): void {
    this.madeWith = transport;
  }

  override datagramReceived(data: Uint8Array, address: SocketAddress | null): void {
    this.received++;
    const text = decoder.decode(data);
    if (text === "boom") throw new RangeError("boom on purpose");
    this.transport.sendTo(text.toUpperCase(), address);
  }

  override connectionLost(error: Error | null): void {
    this.lost.push(error);
  }
}

describe("datagram protocols", () => {
  test("UDP: one protocol object serves every datagram; connectionMade first, connectionLost(null) at close", async () => {
    Upper.made = 0;
    const server = new UDPProtocolServer(["127.0.0.1", 0], Upper);
    let protocol: Upper | undefined;
    await serving(server, async () => {
      protocol = server.protocol as Upper;
      assert.ok(protocol instanceof Upper);
      assert.equal(protocol.server, server);
      assert.equal(protocol.madeWith, protocol.transport);
      for (const word of ["one", "two", "three"]) {
        assert.equal(await udpExchange(server.serverAddress, word), word.toUpperCase());
      }
      assert.equal(Upper.made, 1);
      assert.equal(protocol.received, 3);
      assert.deepEqual(protocol.transport.localAddress, server.serverAddress);
    });
    assert.deepEqual(protocol!.lost, [null]);
    assert.equal(protocol!.transport.closing, true);
  });

  test("a throwing datagramReceived() reaches handleError() with the datagram and sender; the server goes on", async () => {
    const server = new UDPProtocolServer(["127.0.0.1", 0], Upper);
    const errors = recordErrors(server);
    await serving(server, async () => {
      assert.equal(await udpExchange(server.serverAddress, "boom", 300), null);
      await waitFor(() => errors.length === 1, 5000, "handleError()");
      const [{ error, request, clientAddress }] = errors;
      assert.ok(error instanceof RangeError);
      assert.equal(decoder.decode((request as { data: Uint8Array }).data), "boom");
      assert.ok(Array.isArray(clientAddress));
      assert.equal(await udpExchange(server.serverAddress, "after"), "AFTER");
    });
  });

  test("verifyRequest() runs for each datagram first", async () => {
    const server = new UDPProtocolServer(["127.0.0.1", 0], Upper);
    server.verifyRequest = (request) => decoder.decode((request as { data: Uint8Array }).data) !== "refused";
    await serving(server, async () => {
      assert.equal(await udpExchange(server.serverAddress, "refused", 300), null);
      assert.equal((server.protocol as Upper).received, 0);
      assert.equal(await udpExchange(server.serverAddress, "taken"), "TAKEN");
    });
  });

  test("sendTo() refuses an unnamed client, and a failed send goes to errorReceived()", async () => {
    const seen: unknown[] = [];
    class Sender extends DatagramProtocol {
      override datagramReceived(_data: Uint8Array, address: SocketAddress | null): void {
        assert.throws(() => this.transport.sendTo("x", null), NoClientAddressError);
        // Port 0 is no destination: every runtime fails that send.
        this.transport.sendTo("x", ["127.0.0.1", 0]);
        this.transport.sendTo("ok", address);
      }
      override errorReceived(error: unknown): void {
        seen.push(error);
      }
    }
    const server = new UDPProtocolServer(["127.0.0.1", 0], Sender);
    const errors = recordErrors(server);
    await serving(server, async () => {
      assert.equal(await udpExchange(server.serverAddress, "go"), "ok");
      await waitFor(() => seen.length === 1, 5000, "errorReceived()");
      assert.equal(errors.length, 0);
    });
  });

  test("unix datagrams (Deno), or the runtime's refusal", async () => {
    const server = new UnixDatagramProtocolServer(socketPath(), Upper);
    if (!HAS_UNIX_DATAGRAM) {
      await assert.rejects(server.listen(), UnsupportedError);
      return;
    }
    await serving(server, async () => {
      assert.equal(await unixDatagramExchange(server.serverAddress, "unix"), "UNIX");
    });
  });
});
