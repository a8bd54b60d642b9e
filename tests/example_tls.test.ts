// The echo example with TLS, as a new user would try it: Python's ssl module and openssl s_client as clients, in every
// mode, on TCP and unix sockets.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { listeningAddress, startEcho, stopEcho } from "./_echo_program.ts";
import { python, REPO_ROOT, socketPath, within } from "./_helpers.ts";

const TLS = join(REPO_ROOT, "tests", "fixtures", "tls");
const file = (name: string) => join(TLS, name);

/** A Python client: argv[1] the address (JSON), argv[2] the fixtures folder, argv[3] the scenario. */
const CLIENT = `
import json, socket, ssl, sys
address, tls, scenario = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
def connect():
    if isinstance(address, str):
        s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(address); return s
    return socket.create_connection(tuple(address), timeout=5)
def line(s):
    data = b""
    while not data.endswith(b"\\n"):
        chunk = s.recv(1)
        if not chunk: break
        data += chunk
    return data.decode()
context = ssl.create_default_context(cafile=tls + "/ca.pem")
if scenario in ("alice", "nocert", "mallory"):
    if scenario != "nocert":
        context.load_cert_chain(tls + f"/{scenario}.pem", tls + f"/{scenario}.key")
    try:
        with context.wrap_socket(connect(), server_hostname="localhost") as s:
            s.sendall(b"one\\ntwo\\n")
            first = line(s)
            # A TLS 1.3 client learns of its refusal after its handshake: the connection ends without a byte.
            print(json.dumps([first, line(s), s.version()] if first else ["refused", "closed"]))
    except (ssl.SSLError, ConnectionError, OSError) as error:
        print(json.dumps(["refused", type(error).__name__]))
else:
    plain = connect()
    plain.sendall(b"hello\\n")
    first = line(plain)
    plain.sendall(b"STARTTLS\\n")
    ready = line(plain)
    with context.wrap_socket(plain, server_hostname="localhost") as s:
        s.sendall(b"secret\\n")
        print(json.dumps([first, ready, line(s), s.version()]))
`;

async function client(address: unknown, scenario: string): Promise<unknown> {
  const result = await python(CLIENT, [JSON.stringify(address), TLS, scenario], 15_000);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const address = (transport: string): string[] =>
  transport === "unix" ? ["--transport", "unix", "--path", socketPath("extls")] : [];

for (const mode of ["sync", "async", "threading", "forking"]) {
  for (const transport of ["tcp", "unix"]) {
    describe(`echo example, --mode ${mode} --transport ${transport}, TLS`, () => {
      test("--tls-ca: alice is echoed over TLS 1.3; no certificate and another CA's are refused", async () => {
        const program = startEcho([
          "--mode",
          mode,
          ...address(transport),
          "--tls-cert",
          file("server.pem"),
          "--tls-key",
          file("server.key"),
          "--tls-ca",
          file("ca.pem"),
        ]);
        try {
          const at = await listeningAddress(program);
          assert.deepEqual(await client(at, "alice"), ["one\n", "two\n", "TLSv1.3"]);
          assert.equal((await client(at, "nocert") as string[])[0], "refused");
          assert.equal((await client(at, "mallory") as string[])[0], "refused");
        } finally {
          await stopEcho(program);
        }
      });

      test("--starttls: plain lines, READY, then TLS on the same connection", async () => {
        const program = startEcho([
          "--mode",
          mode,
          ...address(transport),
          "--tls-cert",
          file("server.pem"),
          "--tls-key",
          file("server.key"),
          "--starttls",
        ]);
        try {
          const at = await listeningAddress(program);
          assert.deepEqual(await client(at, "starttls"), ["hello\n", "READY\n", "secret\n", "TLSv1.3"]);
        } finally {
          await stopEcho(program);
        }
      });
    });
  }
}

describe("echo example, TLS as openssl s_client sees it", () => {
  test("s_client with alice's certificate gets its line echoed", async () => {
    const program = startEcho([
      "--tls-cert",
      file("server.pem"),
      "--tls-key",
      file("server.key"),
      "--tls-ca",
      file("ca.pem"),
    ]);
    try {
      const [host, port] = await listeningAddress(program) as [string, number];
      const output = await within(
        15_000,
        new Promise<string>((resolve) => {
          const child = spawn("openssl", [
            "s_client",
            "-connect",
            `${host}:${port}`,
            "-CAfile",
            file("ca.pem"),
            "-cert",
            file("alice.pem"),
            "-key",
            file("alice.key"),
            "-quiet",
          ], { stdio: ["pipe", "pipe", "ignore"] });
          let out = "";
          child.stdout.on("data", (chunk) => {
            out += chunk;
            if (out.includes("\n")) child.kill();
          });
          child.once("close", () => resolve(out));
          child.stdin.write("hello s_client\n");
        }),
        "openssl s_client",
      );
      assert.equal(output, "hello s_client\n");
    } finally {
      await stopEcho(program);
    }
  });

  for (
    const [what, args, message] of [
      ["a missing file", ["--tls-cert", "/nonexistent.pem", "--tls-key", file("server.key")], /cannot read --tls-cert/],
      [
        "a key that does not match",
        ["--tls-cert", file("server.pem"), "--tls-key", file("other.key")],
        /does not match/,
      ],
      [
        "a file that is not PEM",
        ["--tls-cert", join(TLS, "..", "tls_bulk_client.mjs"), "--tls-key", file("server.key")],
        /not PEM/,
      ],
      ["--tls-ca without a certificate", ["--tls-ca", file("ca.pem")], /--tls-ca needs --tls-cert and --tls-key/],
    ] as const
  ) {
    test(`${what}: one line on stderr, exit 2`, async () => {
      const program = startEcho([...args]);
      try {
        const { code } = await within(15_000, program.exited);
        assert.equal(code, 2);
        const lines = program.stderr().trimEnd().split("\n");
        assert.equal(lines.length, 1, program.stderr());
        assert.match(lines[0], message);
      } finally {
        await stopEcho(program);
      }
    });
  }
});
