// Unix socket files: a stale one is replaced, a live one refused, anything else left alone, and the file goes at close.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { AddressInUseError } from "../mod.ts";
import { type AnyServer, python, type ServerKind, serving, socketPath, SUPPORTED_KINDS, within } from "./_helpers.ts";

const UNIX_KINDS = SUPPORTED_KINDS.filter((kind) => kind.transport === "unix" || kind.transport === "unixgram");

/** Python's socket type for a kind. */
function socketType(kind: ServerKind): string {
  return kind.stream ? "SOCK_STREAM" : "SOCK_DGRAM";
}

/** Leaves a stale socket file at `path`: Python binds a socket there and exits without unlinking it. */
async function bindAndExit(kind: ServerKind, path: string): Promise<void> {
  const result = await python(
    `import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.${socketType(kind)})\ns.bind(sys.argv[1])`,
    [path],
  );
  assert.equal(result.code, 0, result.stderr);
}

/** Leaves a stale socket file at `path` the way a crashed server does: a Python server there is SIGKILLed. */
async function listenAndGetKilled(kind: ServerKind, path: string): Promise<void> {
  const code = [
    "import socket, sys, time",
    `s = socket.socket(socket.AF_UNIX, socket.${socketType(kind)})`,
    "s.bind(sys.argv[1])",
    kind.stream ? "s.listen()" : "",
    "print('ready', flush=True)",
    "time.sleep(30)",
  ].join("\n");
  const child = spawn("python3", ["-c", code, path], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<string | null>((resolve) => child.once("close", (_code, signal) => resolve(signal)));
  try {
    await within(
      10000,
      new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => chunk.includes("ready") && resolve());
        child.once("error", reject);
      }),
      "the python server to start",
    );
  } finally {
    child.kill("SIGKILL");
  }
  assert.equal(await within(10000, exited), "SIGKILL");
}

for (const kind of UNIX_KINDS) {
  describe(`${kind.name} socket file`, () => {
    const Echo = kind.handler({
      async handle(handler) {
        await handler.wfile.write(await handler.rfile.read());
      },
    });

    for (
      const [how, makeStale] of [
        ["left by a socket that was closed without unlinking", bindAndExit],
        ["left by a server that was SIGKILLed", listenAndGetKilled],
      ] as const
    ) {
      test(`a stale file ${how} is replaced at bind`, async () => {
        const path = socketPath("stale");
        await makeStale(kind, path);
        assert.ok(lstatSync(path).isSocket(), "the stale socket file is there");
        await serving(new kind.Server(path, Echo), async (server) => {
          assert.equal(await kind.request(server.serverAddress, "fresh"), "fresh");
        });
        assert.equal(existsSync(path), false);
      });
    }

    test("a live one (another server listening) gives AddressInUseError and keeps working", async () => {
      const path = socketPath("live");
      await serving(new kind.Server(path, Echo), async (holder) => {
        const second: AnyServer = new kind.Server(path, Echo);
        await assert.rejects(within(5000, second.listen()), (error: Error) => {
          assert.ok(error instanceof AddressInUseError, `expected AddressInUseError, got ${error}`);
          assert.match(error.message, new RegExp(`address already in use: ${path.replace(/[.]/g, "\\.")}`));
          return true;
        });
        assert.equal(second.closed, true);
        assert.ok(lstatSync(path).isSocket(), "the live server's file is left alone");
        assert.equal(await kind.request(holder.serverAddress, "still mine"), "still mine");
      });
    });

    if (kind.stream) {
      test("a live one held by another process (a Python server) gives AddressInUseError", async () => {
        const path = socketPath("foreign");
        const code = [
          "import socket, sys, time",
          "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
          "s.bind(sys.argv[1])",
          "s.listen()",
          "print('ready', flush=True)",
          "sys.stdin.read()",
        ].join("\n");
        const child = spawn("python3", ["-c", code, path], { stdio: ["pipe", "pipe", "inherit"] });
        const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
        try {
          await within(
            10000,
            new Promise<void>((resolve) =>
              child.stdout.setEncoding("utf8").on("data", (chunk: string) => chunk.includes("ready") && resolve())
            ),
            "the python server to start",
          );
          await assert.rejects(new kind.Server(path, Echo).listen(), AddressInUseError);
          assert.ok(lstatSync(path).isSocket());
        } finally {
          child.stdin.end();
          await within(10000, exited);
          rmSync(path, { force: true });
        }
      });
    }

    test("a regular file at the path is refused and not deleted", async () => {
      const path = socketPath("regular");
      writeFileSync(path, "precious data\n");
      try {
        await assert.rejects(within(5000, new kind.Server(path, Echo).listen()), (error: Error) => {
          assert.ok(error instanceof AddressInUseError, `expected AddressInUseError, got ${error}`);
          assert.match(error.message, /exists and is not a socket; not removed/);
          return true;
        });
        assert.equal(readFileSync(path, "utf8"), "precious data\n");
      } finally {
        rmSync(path, { force: true });
      }
    });

    test("a directory at the path is refused and not deleted", async () => {
      const path = socketPath("directory");
      mkdirSync(path);
      try {
        await assert.rejects(within(5000, new kind.Server(path, Echo).listen()), AddressInUseError);
        assert.ok(lstatSync(path).isDirectory());
      } finally {
        rmSync(path, { recursive: true, force: true });
      }
    });

    test("the file is removed at serverClose(), and the path can be bound again", async () => {
      const path = socketPath("removed");
      const server: AnyServer = await new kind.Server(path, Echo).listen();
      assert.ok(lstatSync(path).isSocket());
      await within(5000, server.serverClose());
      assert.equal(existsSync(path), false);
      await serving(new kind.Server(path, Echo), async (again) => {
        assert.equal(await kind.request(again.serverAddress, "again"), "again");
      });
      assert.equal(existsSync(path), false);
    });

    test("a path in a directory that does not exist gives an error saying so", async () => {
      const path = join(dirname(socketPath()), `ss-missing-${process.pid}`, "s.sock");
      await assert.rejects(within(5000, new kind.Server(path, Echo).listen()), /directory does not exist/);
    });
  });
}
