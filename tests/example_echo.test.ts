// examples/echo.ts as a program: started under the runtime running the tests, used over every transport, stopped.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { encodeProxyHeader, TCPServer } from "../mod.ts";
import { listeningAddress, startEcho, stopEcho } from "./_echo_program.ts";
import {
  exchange,
  HAS_UNIX_DATAGRAM,
  LineClient,
  socketPath,
  udpExchange,
  unixDatagramExchange,
  waitFor,
  within,
} from "./_helpers.ts";

const TRANSPORTS = ["tcp", "udp", "unix", ...(HAS_UNIX_DATAGRAM ? ["unix-dgram"] : [])];
const HELLO = "hello world\n";

describe("examples/echo.ts", () => {
  for (const handler of ["stream", "protocol"]) {
    for (const mode of ["sync", "async", "threading"]) {
      for (const transport of TRANSPORTS) {
        // A datagram protocol is one object in the server's thread: the example refuses threading for it (below).
        if (handler === "protocol" && mode === "threading" && !(transport === "tcp" || transport === "unix")) continue;
        const shape = handler === "stream" ? "" : ` --handler ${handler}`;
        test(`--transport ${transport} --mode ${mode}${shape}: prints where it listens, echoes, exits 0 on SIGTERM`, async () => {
          const path = transport.startsWith("unix") ? socketPath("example") : undefined;
          const program = startEcho([
            "--transport",
            transport,
            "--mode",
            mode,
            "--handler",
            handler,
            ...(path ? ["--path", path] : []),
          ]);
          try {
            const address = await listeningAddress(program);
            if (path !== undefined) assert.equal(address, path);
            else assert.equal((address as [string, number])[0], "127.0.0.1");
            if (transport === "tcp" || transport === "unix") {
              const client = await LineClient.open(address);
              try {
                for (let i = 0; i < 3; i++) {
                  client.send(HELLO);
                  assert.equal(await client.readLine(), HELLO);
                }
              } finally {
                client.destroy();
              }
              assert.equal(await exchange(address, "half-closed\n"), "half-closed\n");
            } else {
              for (let i = 0; i < 3; i++) {
                const reply = transport === "udp"
                  ? await udpExchange(address, HELLO)
                  : await unixDatagramExchange(address as string, HELLO);
                assert.equal(reply, HELLO);
              }
            }
            // process.kill rather than child.kill: after child.kill(), Deno's node:child_process reports the signal it
            // sent as the cause of exit even when the child handled it and exited 0.
            process.kill(program.child.pid!, "SIGTERM");
            const { code, signal } = await within(15000, program.exited, "exit after SIGTERM");
            assert.deepEqual({ code, signal }, { code: 0, signal: null }, program.stderr());
            assert.equal(program.stdout().trim().split("\n").length, 1, "one line on stdout");
            if (path !== undefined) assert.equal(existsSync(path), false, "the socket file is removed");
          } finally {
            await stopEcho(program);
          }
        });
      }
    }
  }

  test("--handler protocol with a datagram transport and --mode threading: refused on stderr, a non-zero exit", async () => {
    const program = startEcho(["--transport", "udp", "--mode", "threading", "--handler", "protocol"]);
    try {
      const { code } = await within(15000, program.exited);
      assert.notEqual(code, 0);
      assert.match(program.stderr(), /--handler protocol with --transport udp .*use --mode sync or async/);
    } finally {
      await stopEcho(program);
    }
  });

  for (const mode of ["sync", "async", "threading", "forking"]) {
    test(`--proxy-protocol any --whoami --mode ${mode}: the first line names the PROXY source and the process`, async () => {
      const program = startEcho(["--mode", mode, "--proxy-protocol", "any", "--whoami"]);
      try {
        const address = await listeningAddress(program);
        const v1 = await exchange(address, "PROXY TCP4 203.0.113.5 198.51.100.1 40001 443\r\nhello\n");
        const [first, ...rest] = v1.split("\n");
        const pid = Number(/^client 203\.0\.113\.5:40001 pid (\d+)$/.exec(first)?.[1]);
        assert.ok(pid > 0, first);
        if (mode === "forking") assert.notEqual(pid, program.child.pid, "served by a child process");
        else assert.equal(pid, program.child.pid);
        assert.deepEqual(rest, ["hello", ""]);
        const header = encodeProxyHeader({ version: 2, source: ["2001:db8::5", 40002], destination: ["::1", 443] });
        const v2 = await exchange(address, new Uint8Array([...header, ...new TextEncoder().encode("v2\n")]));
        assert.match(v2, /^client \[2001:db8::5\]:40002 pid \d+\nv2\n$/);
        // A connection without a header is closed without a reply.
        assert.equal(await exchange(address, "hello\n").catch(() => ""), "");
      } finally {
        await stopEcho(program);
      }
    });
  }

  test("--transport unix --proxy-protocol v2 --trusted-proxy unix: a TCP client's address on a unix server", async () => {
    const path = socketPath("example");
    const program = startEcho([
      "--transport",
      "unix",
      "--path",
      path,
      "--proxy-protocol",
      "v2",
      "--trusted-proxy",
      "unix",
    ]);
    try {
      const address = await listeningAddress(program);
      const header = encodeProxyHeader({ version: 2, source: ["192.0.2.9", 5555], destination: ["192.0.2.1", 80] });
      assert.equal(await exchange(address, new Uint8Array([...header, ...new TextEncoder().encode("x\n")])), "x\n");
      // v1 is not accepted here.
      assert.equal(await exchange(address, "PROXY UNKNOWN\r\nx\n").catch(() => ""), "");
    } finally {
      await stopEcho(program);
    }
  });

  test("--whoami without the PROXY protocol names the socket's peer; --trusted-proxy refuses other peers", async () => {
    const plain = startEcho(["--whoami"]);
    try {
      const address = await listeningAddress(plain);
      assert.match(await exchange(address, "hi\n"), /^client 127\.0\.0\.1:\d+ pid \d+\nhi\n$/);
    } finally {
      await stopEcho(plain);
    }
    const strict = startEcho(["--proxy-protocol", "v1", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1"]);
    try {
      const address = await listeningAddress(strict);
      assert.equal(await exchange(address, "PROXY UNKNOWN\r\nhi\n").catch(() => ""), "");
      await waitFor(
        () => /127\.0\.0\.1:\d+ is not a trusted proxy/.test(strict.stderr()),
        5000,
        "the refusal on stderr",
      );
    } finally {
      await stopEcho(strict);
    }
  });

  for (
    const [args, message] of [
      [["--proxy-protocol", "v3"], /--proxy-protocol must be v1, v2 or any/],
      [["--trusted-proxy", "10.0.0.0/8"], /--trusted-proxy needs --proxy-protocol/],
      [["--transport", "udp", "--whoami"], /--whoami needs a stream transport/],
      [["--proxy-protocol", "v1", "--trusted-proxy", "10.0.0.0/99"], /prefix of "10.0.0.0\/99" must be 0-32/],
    ] as const
  ) {
    test(`${args.join(" ")}: one line on stderr saying what is allowed, and exit 2`, async () => {
      const program = startEcho(args);
      try {
        const { code } = await within(15000, program.exited);
        assert.equal(code, 2);
        const lines = program.stderr().trimEnd().split("\n");
        assert.equal(lines.length, 1, program.stderr());
        assert.match(lines[0], message);
      } finally {
        await stopEcho(program);
      }
    });
  }

  test("--port 70000: one line on stderr saying the port must be 0-65535, and a non-zero exit", async () => {
    const program = startEcho(["--port", "70000"]);
    try {
      const { code } = await within(15000, program.exited);
      assert.notEqual(code, 0);
      const lines = program.stderr().trimEnd().split("\n");
      assert.equal(lines.length, 1, program.stderr());
      assert.match(lines[0], /port must be 0-65535/);
      assert.equal(program.stdout(), "");
    } finally {
      await stopEcho(program);
    }
  });

  test("a port in use: stderr says 'address already in use', and a non-zero exit", async () => {
    const holder = await new TCPServer(
      ["127.0.0.1", 0],
      class {
        handle(): void {}
      },
    ).listen();
    const program = startEcho(["--port", String(holder.serverAddress[1])]);
    try {
      const { code } = await within(15000, program.exited);
      assert.notEqual(code, 0);
      assert.match(program.stderr(), /address already in use/);
      assert.equal(program.stdout(), "");
    } finally {
      await stopEcho(program);
      await holder.serverClose();
    }
  });
});
