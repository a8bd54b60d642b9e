// examples/echo.ts with --workers (a worker pool: SIGKILL, SIGHUP) and --listen-fd (an inherited socket, every mode).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import process from "node:process";
import { describe, test } from "node:test";
import type { SocketAddress } from "../mod.ts";
import { type EchoProgram, listeningAddress, startEcho, startExample, stopEcho } from "./_echo_program.ts";
import { LineClient, waitFor, within } from "./_helpers.ts";

/** The pid a `--whoami` echo server names on a new connection (and that it still echoes). */
async function whoServes(address: SocketAddress): Promise<number> {
  const client = await LineClient.open(address);
  try {
    const first = (await client.readLine()) ?? "";
    const match = / pid (\d+)\n$/.exec(first);
    assert.ok(match, `a whoami line, got ${JSON.stringify(first)}`);
    client.send("ping\n");
    assert.equal(await client.readLine(), "ping\n");
    return Number(match[1]);
  } finally {
    client.destroy();
  }
}

async function pidsOf(address: SocketAddress, count: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) pids.add(await whoServes(address));
  return pids;
}

async function stopped(program: EchoProgram): Promise<void> {
  process.kill(program.child.pid!, "SIGTERM");
  const { code, signal } = await within(20_000, program.exited, "exit after SIGTERM");
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, program.stderr());
  assert.equal(program.stdout().trim().split("\n").length, 1, "one line on stdout");
}

describe("examples/echo.ts --workers", () => {
  test("--workers 2 --whoami: two worker processes serve; a worker killed with SIGKILL is replaced", async () => {
    const program = startEcho(["--workers", "2", "--whoami"]);
    try {
      const address = await listeningAddress(program);
      const pids = await within(30_000, pidsOf(address, 30), "30 connections");
      assert.equal(pids.size, 2, `two workers, saw ${[...pids]}`);
      assert.ok(!pids.has(program.child.pid!));
      const [victim] = pids;
      process.kill(victim, "SIGKILL");
      await waitFor(() => program.stderr().includes(`pool worker ${victim} was killed by SIGKILL`), 10_000, "report");
      let after = new Set<number>();
      await within(
        30_000,
        (async () => {
          while (after.size < 2) {
            after = new Set([...after, ...(await pidsOf(address, 10))].filter((p) => p !== victim));
          }
        })(),
        "two workers again",
      );
      assert.ok(!after.has(victim));
      await stopped(program);
    } finally {
      await stopEcho(program);
    }
  });

  test("SIGHUP reloads: a connection open before goes on, new connections reach new workers", async () => {
    const program = startEcho(["--workers", "2", "--whoami"]);
    try {
      const address = await listeningAddress(program);
      const old = await pidsOf(address, 20);
      const open = await LineClient.open(address);
      await open.readLine();
      process.kill(program.child.pid!, "SIGHUP");
      // While the new workers start and the old ones drain (up to the example's 10 s), the open connection is served.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      open.send("still here\n");
      assert.equal(await open.readLine(), "still here\n");
      open.destroy();
      // The old workers exit once their last connection closed: the reload ends well before the drain timeout.
      await waitFor(() => program.stderr().includes("echo: reloaded"), 8000, "the reload");
      const fresh = await pidsOf(address, 20);
      for (const pid of fresh) assert.ok(!old.has(pid), `${pid} is a new worker`);
      await stopped(program);
    } finally {
      await stopEcho(program);
    }
  });
});

/** Python opens a listening socket on fd 3, says its port on stderr, and runs the example with it. */
const PYTHON_PARENT = [
  "python3",
  "-c",
  "import os, socket, sys\n" +
  "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64)\n" +
  "if s.fileno() != 3: os.dup2(s.fileno(), 3)\n" +
  "os.set_inheritable(3, True)\n" +
  "sys.stderr.write('port %d\\n' % s.getsockname()[1]); sys.stderr.flush()\n" +
  "os.execvp(sys.argv[1], sys.argv[1:])",
];

describe("examples/echo.ts --listen-fd", () => {
  const variants: [string, string[]][] = [
    ["sync", ["--mode", "sync"]],
    ["async", ["--mode", "async"]],
    ["threading", ["--mode", "threading"]],
    ["forking", ["--mode", "forking"]],
    ["a pool of 2 workers", ["--workers", "2"]],
  ];
  for (const [name, args] of variants) {
    test(`--listen-fd 3 (${name}): serves the socket a parent process opened`, async () => {
      const program = startExample("echo", ["--listen-fd", "3", "--whoami", ...args], undefined, PYTHON_PARENT);
      try {
        const address = await listeningAddress(program);
        const port = Number(/port (\d+)/.exec(program.stderr())?.[1]);
        assert.deepEqual(address, ["127.0.0.1", port]);
        const pid = await whoServes(address);
        if (name === "sync" || name === "async" || name === "threading") assert.equal(pid, program.child.pid);
        else assert.notEqual(pid, program.child.pid);
        await stopped(program);
      } finally {
        await stopEcho(program);
      }
    });
  }

  const activate = (() => {
    try {
      return execFileSync("sh", ["-c", "command -v systemd-socket-activate"], { encoding: "utf8" }).trim();
    } catch {
      return "";
    }
  })();
  test(
    "--listen-fd systemd under systemd-socket-activate",
    { skip: activate === "" && "systemd is not installed" },
    async () => {
      const port = 24_000 + (process.pid % 2000);
      const program = startExample("echo", ["--listen-fd", "systemd"], undefined, [
        activate,
        "-l",
        `127.0.0.1:${port}`,
      ]);
      try {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const client = await LineClient.open(["127.0.0.1", port]);
        client.send("activated\n");
        assert.equal(await client.readLine(), "activated\n");
        client.destroy();
      } finally {
        await stopEcho(program);
      }
    },
  );
});
