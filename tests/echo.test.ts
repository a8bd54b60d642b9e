// Echo of "hello world\n" three times on every server class, as CPython's test_socketserver does.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NoClientAddressError, UnsupportedError } from "../mod.ts";
import {
  IPV6_KINDS,
  LineClient,
  python,
  recordErrors,
  RUNTIME,
  SERVER_KINDS,
  type ServerKind,
  serving,
  sleep,
  socketPath,
  waitFor,
  within,
} from "./_helpers.ts";

const HELLO = "hello world\n";

/** Python clients sending "hello world\n" three times; argv[1] is the server address as JSON, argv[2] a spare path. */
const PYTHON_CLIENT: Record<ServerKind["transport"], string> = {
  tcp: `
import json, socket, sys
host, port = json.loads(sys.argv[1])
replies = []
for _ in range(3):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"hello world\\n")
        data = b""
        while not data.endswith(b"\\n"):
            chunk = s.recv(100)
            if not chunk: break
            data += chunk
        replies.append(data.decode())
print(json.dumps(replies))
`,
  udp: `
import json, socket, sys
host, port = json.loads(sys.argv[1])
replies = []
for _ in range(3):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"hello world\\n", (host, port))
        replies.append(s.recv(100).decode())
print(json.dumps(replies))
`,
  unix: `
import json, socket, sys
path = json.loads(sys.argv[1])
replies = []
for _ in range(3):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"hello world\\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(100)
            if not chunk: break
            data += chunk
        replies.append(data.decode())
print(json.dumps(replies))
`,
  unixgram: `
import json, os, socket, sys
path = json.loads(sys.argv[1])
replies = []
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.bind(sys.argv[2])
    try:
        for _ in range(3):
            s.sendto(b"hello world\\n", path)
            replies.append(s.recv(100).decode())
    finally:
        os.unlink(sys.argv[2])
print(json.dumps(replies))
`,
};

function echoHandler(kind: ServerKind) {
  return kind.handler({
    async handle(handler) {
      for await (const line of handler.rfile) await handler.wfile.write(line);
    },
  });
}

for (const kind of [...SERVER_KINDS, ...IPV6_KINDS]) {
  describe(`${kind.name} echo`, () => {
    if (!kind.supported) {
      test(`refuses to listen on ${RUNTIME} with an UnsupportedError naming the runtime`, async () => {
        const server = kind.create(echoHandler(kind));
        await assert.rejects(within(5000, server.listen()), (error: Error) => {
          assert.ok(error instanceof UnsupportedError, `expected UnsupportedError, got ${error}`);
          assert.match(error.message, new RegExp(RUNTIME === "bun" ? "\\bBun\\b" : "\\bNode\\b"));
          return true;
        });
        assert.equal(server.closed, true, "a failed listen() leaves the server closed");
      });
      return;
    }

    test('echoes "hello world\\n" to three clients one after another', async () => {
      await serving(kind.create(echoHandler(kind)), async (server) => {
        for (let i = 0; i < 3; i++) {
          assert.equal(await kind.request(server.serverAddress, HELLO), HELLO, `client ${i + 1}`);
        }
      });
    });

    if (kind.stream) {
      test('echoes "hello world\\n" three times on one connection', async () => {
        await serving(kind.create(echoHandler(kind)), async (server) => {
          const client = await LineClient.open(server.serverAddress);
          try {
            for (let i = 0; i < 3; i++) {
              client.send(HELLO);
              assert.equal(await client.readLine(), HELLO);
            }
            client.end();
            await client.ended();
          } finally {
            client.destroy();
          }
        });
      });
    }

    test("answers 20 clients at once, each with its own reply", async () => {
      await serving(kind.create(echoHandler(kind)), async (server) => {
        const payloads = Array.from({ length: 20 }, (_, i) => `client ${i}\n`);
        const replies = await within(
          15000,
          Promise.all(payloads.map((payload) => kind.request(server.serverAddress, payload))),
        );
        assert.deepEqual(replies, payloads);
      });
    });

    test('echoes "hello world\\n" three times to a Python client, as a Python user would see it', async () => {
      await serving(kind.create(echoHandler(kind)), async (server) => {
        const result = await python(PYTHON_CLIENT[kind.transport], [
          JSON.stringify(server.serverAddress),
          socketPath("py"),
        ]);
        assert.equal(result.stderr, "");
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), [HELLO, HELLO, HELLO]);
      });
    });

    test("reports the bound address: port 0 becomes the real port, a unix path stays", async () => {
      const server = kind.create(echoHandler(kind));
      const requested = server.serverAddress;
      await server.listen();
      try {
        if (typeof requested === "string") assert.equal(server.serverAddress, requested);
        else {
          assert.equal(server.serverAddress[0], requested[0]);
          assert.ok(server.serverAddress[1] > 0, `port ${server.serverAddress[1]}`);
        }
      } finally {
        await within(5000, server.serverClose());
      }
    });
  });
}

describe("many servers", () => {
  test("20 servers started and shut down at once do not hang", async () => {
    const kinds = SERVER_KINDS.filter((k) => k.supported);
    const servers = Array.from({ length: 20 }, (_, i) => {
      const kind = kinds[i % kinds.length];
      return { kind, server: kind.create(echoHandler(kind)) };
    });
    await within(10000, Promise.all(servers.map(({ server }) => server.listen())), "listen()");
    const loops = servers.map(({ server }) => server.serveForever());
    await sleep(10);
    const answers = await within(
      10000,
      Promise.all(servers.map(({ kind, server }) => kind.request(server.serverAddress, HELLO))),
      "requests",
    );
    assert.deepEqual(answers, servers.map(() => HELLO));
    await within(10000, Promise.all(servers.map(({ server }) => server.shutdown())), "shutdown()");
    await within(10000, Promise.all(servers.map(({ server }) => server.serverClose())), "serverClose()");
    await within(10000, Promise.all(loops), "serveForever()");
  });
});

for (const kind of SERVER_KINDS.filter((k) => k.transport === "unixgram" && k.supported)) {
  describe(`${kind.name} and a client without an address`, () => {
    test("the reply to an unbound unix datagram client fails with NoClientAddressError in handleError", async () => {
      const server = kind.create(echoHandler(kind));
      const errors = recordErrors(server);
      await serving(server, async () => {
        const result = await python(
          "import socket, sys\nwith socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:\n    s.sendto(b'anonymous', sys.argv[1])",
          [server.serverAddress],
        );
        assert.equal(result.code, 0, result.stderr);
        await within(5000, waitFor(() => errors.length === 1));
      });
      assert.ok(errors[0].error instanceof NoClientAddressError, `got ${errors[0].error}`);
      assert.equal(errors[0].clientAddress, null);
      assert.match(String(errors[0].error), /bind the client's unix datagram socket to a path to get replies/);
    });
  });
}
