// Hostile clients (issue 12): what a client can do to a server by misbehaving, each scenario in a small size, on the
// runtime running the tests. Loopback only, bounded in time.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { describe, test } from "node:test";
import { DatagramRequestHandler, UDPServer } from "../mod.ts";
import { listeningAddress, startEcho, stopEcho } from "./_echo_program.ts";
import { recordErrors, sleep, udpExchange, within } from "./_helpers.ts";

/** Sends one datagram from a socket closed at once: the reply to it meets ICMP "port unreachable". */
function sendAndLeave(address: readonly [string, number], payload: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    socket.send(payload, address[1], address[0], () => socket.close(() => resolve()));
  });
}

class UdpEcho extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}

describe("UDP: clients that leave before their reply (ICMP port unreachable)", () => {
  test("cost no error report, and the next client still gets its reply", async () => {
    await using server = new UDPServer(["127.0.0.1", 0], UdpEcho);
    const reported = recordErrors(server);
    await server.listen();
    const serving = server.serveForever();
    const address = server.serverAddress as [string, number];
    for (let round = 0; round < 10; round++) {
      // Sometimes at once (both datagrams read together: the ICMP error is pending when the second reply is sent),
      // sometimes after a pause (it arrives alone).
      await sendAndLeave(address, `gone ${round}\n`);
      if (round % 2 === 1) await sleep(30);
      assert.equal(await udpExchange(address, `here ${round}\n`), `here ${round}\n`, `round ${round}`);
    }
    assert.deepEqual(reported.map(({ error }) => String(error)), []);
    await server.shutdown();
    await serving;
  });

  test("examples/echo.ts --transport udp: no report on stderr, and exit 0 on SIGTERM", async () => {
    const program = startEcho(["--transport", "udp"]);
    try {
      const address = await listeningAddress(program) as [string, number];
      for (let round = 0; round < 6; round++) {
        await sendAndLeave(address, `gone ${round}\n`);
        if (round % 2 === 1) await sleep(30);
        assert.equal(await udpExchange(address, `here ${round}\n`), `here ${round}\n`, `round ${round}`);
      }
      process.kill(program.child.pid!, "SIGTERM");
      const { code, signal } = await within(15000, program.exited, "exit after SIGTERM");
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, program.stderr());
      assert.equal(program.stderr(), "");
    } finally {
      await stopEcho(program);
    }
  });
});
