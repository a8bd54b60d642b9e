// The PROXY protocol in front of TLS (a balancer that passes TLS through, as HAProxy's `mode tcp` with `send-proxy`
// does): the header comes first, in plain text, then the client's handshake; the bytes read past the header belong to
// the handshake. On every stream server and mode, over real sockets.
import assert from "node:assert/strict";
import type net from "node:net";
import { describe, test } from "node:test";
import tls from "node:tls";
import {
  AsyncTCPServer,
  AsyncUnixStreamServer,
  encodeProxyHeader,
  ForkingTCPServer,
  ForkingUnixStreamServer,
  type ServerClass,
  type SocketAddress,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  UnixStreamServer,
} from "../mod.ts";
import { connect, recordErrors, serving, sleep, socketPath, within } from "./_helpers.ts";
import { ProxyReport } from "./proxy_handlers.ts";
import { clientOptions, SERVER } from "./_tls.ts";

const MODES: ReadonlyArray<{ name: string; tcp: ServerClass; unix: ServerClass; options?: Record<string, unknown> }> = [
  { name: "sync", tcp: TCPServer, unix: UnixStreamServer },
  { name: "async", tcp: AsyncTCPServer, unix: AsyncUnixStreamServer },
  { name: "threading", tcp: ThreadingTCPServer, unix: ThreadingUnixStreamServer, options: { maxWorkers: 2 } },
  { name: "forking", tcp: ForkingTCPServer, unix: ForkingUnixStreamServer, options: { spareChildren: 1 } },
];

const V1 = "PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\n";

/**
 * Connects, sends `header` in plain text, waits `gap` ms (0: the handshake follows at once, and the server reads the
 * two together), then runs a TLS client on the same socket, sends `lines`, half-closes, and returns what came back.
 */
async function proxiedTls(address: SocketAddress, header: string | Uint8Array, gap: number, lines: string) {
  const plain = await connect(address);
  plain.write(header);
  if (gap > 0) await sleep(gap);
  return await within(
    8000,
    new Promise<string>((resolve, reject) => {
      const secure = tls.connect({ socket: plain, ...clientOptions() });
      let received = "";
      secure.setEncoding("utf8");
      secure.on("data", (text: string) => (received += text));
      secure.once("secureConnect", () => secure.end(lines));
      secure.once("error", reject);
      secure.once("close", () => resolve(received));
    }),
    "PROXY header then TLS",
  );
}

/** The report line of `ProxyReport` and the echo after it. */
function reportOf(received: string): { report: Record<string, unknown>; echoed: string } {
  const newline = received.indexOf("\n");
  assert.ok(newline > 0, `a report line came back: ${JSON.stringify(received)}`);
  return { report: JSON.parse(received.slice(0, newline)), echoed: received.slice(newline + 1) };
}

describe("PROXY protocol header, then TLS, on every stream server", () => {
  for (const mode of MODES) {
    for (const transport of ["tcp", "unix"] as const) {
      const Server = transport === "tcp" ? mode.tcp : mode.unix;
      const address = (): SocketAddress => (transport === "tcp" ? ["127.0.0.1", 0] : socketPath("proxytls"));
      const make = () => new Server(address(), ProxyReport, { ...mode.options, proxyProtocol: {}, tls: SERVER });

      test(`${Server.name}: the handler sees the PROXY source over TLS, header and handshake together or apart`, async () => {
        const server = make();
        const errors = recordErrors(server);
        await serving(server, async () => {
          for (const gap of [0, 40]) {
            const { report, echoed } = reportOf(await proxiedTls(server.serverAddress, V1, gap, "over tls\n"));
            assert.deepEqual(report.client, ["203.0.113.7", 40001], `gap ${gap}`);
            assert.equal(report.tls, "TLSv1.3");
            assert.equal(echoed, "over tls\n");
          }
          const v2 = encodeProxyHeader({
            version: 2,
            source: ["2001:db8::7", 40002],
            destination: ["2001:db8::1", 443],
          });
          const { report } = reportOf(await proxiedTls(server.serverAddress, v2, 0, "v2\n"));
          assert.deepEqual(report.client, ["2001:db8::7", 40002]);
        });
        assert.deepEqual(errors, []);
      });
    }
  }

  test("a valid header followed by no handshake fails as a handshake, never reaches the handler; others go on", async () => {
    for (const Server of [AsyncTCPServer, TCPServer]) {
      const server = new Server(["127.0.0.1", 0], ProxyReport, { proxyProtocol: {}, tls: SERVER });
      const errors = recordErrors(server);
      const handshakeFailures: string[] = [];
      const rejections: unknown[] = [];
      server.handleTlsError = (error: Error) => void handshakeFailures.push(error.name);
      server.handleRejectedConnection = (_connection, error) => void rejections.push(error);
      await serving(server, async () => {
        const plain: net.Socket = await connect(server.serverAddress);
        plain.on("error", () => {});
        plain.write(`${V1}GET / HTTP/1.0\r\n\r\n`);
        await within(5000, new Promise((resolve) => plain.once("close", resolve)), "closed after the bad handshake");
        const { report } = reportOf(await proxiedTls(server.serverAddress, V1, 0, "after\n"));
        assert.deepEqual(report.client, ["203.0.113.7", 40001]);
      });
      assert.deepEqual(handshakeFailures, ["TlsHandshakeError"], Server.name);
      assert.deepEqual(rejections, []);
      assert.deepEqual(errors, []);
    }
  });
});
