// examples/echo.ts --mode forking as a program, on every transport this runtime has, with and without reused children.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { listeningAddress, startEcho, stopEcho } from "./_echo_program.ts";
import {
  exchange,
  HAS_UNIX_DATAGRAM,
  LineClient,
  socketPath,
  udpExchange,
  unixDatagramExchange,
  within,
} from "./_helpers.ts";

const TRANSPORTS = ["tcp", "udp", "unix", ...(HAS_UNIX_DATAGRAM ? ["unix-dgram"] : [])];
const HELLO = "hello world\n";

describe("examples/echo.ts --mode forking", () => {
  const shapes = TRANSPORTS.map((transport) => [transport, "stream"]).concat([["tcp", "protocol"], [
    "unix",
    "protocol",
  ]]);
  for (const [transport, handler] of shapes) {
    const perChild = transport === "tcp" ? ["--requests-per-child", "2"] : [];
    const flags = [transport, ...perChild, ...(handler === "stream" ? [] : ["--handler", handler])].join(" ");
    test(`--transport ${flags}: echoes from child processes, exits 0 on SIGTERM`, async () => {
      const path = transport.startsWith("unix") ? socketPath("fork-example") : undefined;
      const program = startEcho([
        "--transport",
        transport,
        "--mode",
        "forking",
        "--handler",
        handler,
        ...perChild,
        ...(path ? ["--path", path] : []),
      ]);
      try {
        const address = await listeningAddress(program);
        if (transport === "tcp" || transport === "unix") {
          for (let i = 0; i < 2; i++) {
            const client = await LineClient.open(address);
            try {
              client.send(HELLO);
              assert.equal(await client.readLine(10_000), HELLO);
            } finally {
              client.destroy();
            }
          }
          assert.equal(await exchange(address, "half-closed\n"), "half-closed\n");
        } else {
          for (let i = 0; i < 2; i++) {
            const reply = transport === "udp"
              ? await udpExchange(address, HELLO, 10_000)
              : await unixDatagramExchange(address as string, HELLO, 10_000);
            assert.equal(reply, HELLO);
          }
        }
        process.kill(program.child.pid!, "SIGTERM");
        const { code, signal } = await within(15_000, program.exited, "exit after SIGTERM");
        assert.deepEqual({ code, signal }, { code: 0, signal: null }, program.stderr());
      } finally {
        await stopEcho(program);
      }
    });
  }

  test("--requests-per-child 0: one line on stderr, a non-zero exit", async () => {
    const program = startEcho(["--mode", "forking", "--requests-per-child", "0"]);
    const { code } = await within(15_000, program.exited);
    assert.notEqual(code, 0);
    assert.match(program.stderr(), /--requests-per-child must be a positive integer/);
  });
});
