// The forking mix-in: handlers in child processes of the same runtime, on every transport, with the cap, exit statuses,
// killed children, closing, and Deno's permissions.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  BaseServer,
  type ChildExit,
  ChildProcessError,
  type Connection,
  ForkingMixIn,
  ForkingTCPServer,
  ForkingUDPServer,
  ForkingUnixDatagramServer,
  ForkingUnixStreamServer,
  HandlerLoadError,
  type RequestEntry,
  type SocketAddress,
  StreamRequestHandler,
} from "../mod.ts";
import {
  connect,
  exchange,
  HAS_UNIX_DATAGRAM,
  LineClient,
  recordErrors,
  RUNTIME,
  serving,
  sleep,
  socketPath,
  udpExchange,
  unixDatagramExchange,
  waitFor,
  within,
} from "./_helpers.ts";
import { ForkCommands, ForkDatagramEcho, ForkValue, RenamedHandler } from "./forking_handlers.ts";

const HELLO = "hello world\n";

/** Whether a process is alive (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Records every child exit the server reports. */
function recordExits(server: { handleChildExit(exit: ChildExit): void | Promise<void> }): ChildExit[] {
  const exits: ChildExit[] = [];
  server.handleChildExit = (exit) => void exits.push(exit);
  return exits;
}

/** Sends `lines` on a fresh connection and reads one line per line sent, then ends the connection. */
/**
 * How long one answer may take. Generous: a request waits for a child to start, and 32 at once on a loaded 2-core
 * machine start one after another (each test bounds its whole run besides).
 */
const ANSWER_TIMEOUT = 30_000;

async function ask(address: SocketAddress, ...lines: string[]): Promise<string[]> {
  const client = await LineClient.open(address);
  try {
    const answers: string[] = [];
    for (const line of lines) {
      client.send(`${line}\n`);
      answers.push((await client.readLine(ANSWER_TIMEOUT) ?? "(closed)").trimEnd());
    }
    client.end();
    await client.ended(ANSWER_TIMEOUT);
    return answers;
  } finally {
    client.destroy();
  }
}

describe("forking: echo on every transport", () => {
  test("TCP: three echoes on one connection, a half-closed exchange, each connection in a fresh child", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
    await serving(server, async () => {
      const client = await LineClient.open(server.serverAddress);
      try {
        for (let i = 0; i < 3; i++) {
          client.send(HELLO);
          assert.equal(await client.readLine(10_000), HELLO);
        }
        client.send("pid\n");
        const pid = Number(await client.readLine(10_000));
        assert.notEqual(pid, process.pid);
        assert.ok(server.activeChildren.has(pid), "the child is one of activeChildren");
      } finally {
        client.destroy();
      }
      assert.equal(await exchange(server.serverAddress, "half-closed\n"), "half-closed\n");
    });
  });

  test("unix stream: echoes, and the socket file is removed at close", async () => {
    const path = socketPath("fork");
    const server = new ForkingUnixStreamServer(path, ForkCommands, { spareChildren: 1 });
    await serving(server, async () => {
      assert.deepEqual(await ask(path, "hello", "hello"), ["hello", "hello"]);
      assert.equal(await exchange(path, HELLO), HELLO);
    });
    assert.equal(existsSync(path), false);
  });

  test("UDP: the child gets the packet and the client's address; the reply leaves through the server's socket", async () => {
    const server = new ForkingUDPServer(["127.0.0.1", 0], ForkDatagramEcho, { spareChildren: 1 });
    await serving(server, async () => {
      for (let i = 0; i < 3; i++) {
        const reply = await udpExchange(server.serverAddress, HELLO, 10_000);
        assert.ok(reply !== null, "a reply came");
        const [pid, payload] = reply.split(/:(.*)/s);
        assert.notEqual(Number(pid), process.pid);
        assert.equal(payload, HELLO);
      }
    });
  });

  test("unix datagram (Deno only)", { skip: !HAS_UNIX_DATAGRAM }, async () => {
    const path = socketPath("fork-dgram");
    const server = new ForkingUnixDatagramServer(path, ForkDatagramEcho, { spareChildren: 1 });
    await serving(server, async () => {
      const reply = await unixDatagramExchange(path, HELLO, 10_000);
      assert.match(reply ?? "", /^\d+:hello world\n$/);
    });
  });
});

describe("forking: concurrency and isolation", () => {
  test("32 concurrent clients, each in a child of its own", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands);
    await serving(server, async () => {
      const answers = await within(
        90_000,
        Promise.all(Array.from({ length: 32 }, (_, i) => ask(server.serverAddress, `client ${i}`, "pid"))),
        "32 clients",
      );
      answers.forEach(([echo], i) => assert.equal(echo, `client ${i}`));
      assert.equal(new Set(answers.map(([, pid]) => pid)).size, 32, "32 different processes");
    });
  });

  test("a request's state change is invisible to the next; with requestsPerChild: 3 it lasts three requests", async () => {
    const fresh = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
    await serving(fresh, async () => {
      const counts = [];
      for (let i = 0; i < 3; i++) counts.push(await ask(fresh.serverAddress, "count", "pid"));
      assert.deepEqual(counts.map(([count]) => count), ["1", "1", "1"]);
      assert.equal(new Set(counts.map(([, pid]) => pid)).size, 3);
    });
    const reused = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1, requestsPerChild: 3 });
    const exits = recordExits(reused);
    await serving(reused, async () => {
      const counts = [];
      for (let i = 0; i < 4; i++) counts.push(await ask(reused.serverAddress, "count", "pid"));
      assert.deepEqual(counts.map(([count]) => count), ["1", "2", "3", "1"]);
      assert.equal(counts[0][1], counts[2][1], "the first three share a process");
      assert.notEqual(counts[2][1], counts[3][1]);
      const first = Number(counts[0][1]);
      await waitFor(() => exits.some((exit) => exit.pid === first), 30_000, "the first child's exit");
      assert.deepEqual(exits.find((exit) => exit.pid === first), { pid: first, code: 0, signal: null });
    });
  });

  test("maxChildren: at the cap the server takes no request until a child exits", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { maxChildren: 2, spareChildren: 0 });
    await serving(server, async () => {
      const clients = await Promise.all(Array.from({ length: 3 }, () => LineClient.open(server.serverAddress)));
      try {
        clients[0].send("pid\n");
        clients[1].send("pid\n");
        assert.match(await clients[0].readLine(10_000) ?? "", /^\d+\n$/);
        assert.match(await clients[1].readLine(10_000) ?? "", /^\d+\n$/);
        clients[2].send("pid\n");
        await sleep(300);
        assert.equal(clients[2].pending, "", "the third client waits");
        assert.ok(server.activeChildren.size <= 2, `${server.activeChildren.size} children alive`);
        clients[0].end();
        assert.match(await clients[2].readLine(10_000) ?? "", /^\d+\n$/);
        assert.ok(server.activeChildren.size <= 2);
      } finally {
        for (const client of clients) client.destroy();
      }
    });
  });
});

describe("forking: exits, faults and closing", () => {
  test("exit status 0 after a request, 1 after a handler failure (reported in the child, not the parent)", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
    const exits = recordExits(server);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const [okPid] = await ask(server.serverAddress, "pid");
      const client = await LineClient.open(server.serverAddress);
      client.send("pid\n");
      const failedPid = Number(await client.readLine(10_000));
      client.send("crash\n");
      await client.ended(10_000);
      client.destroy();
      await waitFor(() => exits.some((exit) => exit.pid === failedPid), 10_000, "the failed child's exit");
      await waitFor(() => exits.some((exit) => exit.pid === Number(okPid)), 10_000, "the first child's exit");
      assert.equal(exits.find((exit) => exit.pid === Number(okPid))?.code, 0);
      assert.equal(exits.find((exit) => exit.pid === failedPid)?.code, 1);
      assert.equal(errors.length, 0, "the parent's handleError is not called: the child reported the error");
      assert.deepEqual(await ask(server.serverAddress, "still here"), ["still here"]);
    });
  });

  test("a child killed in the middle of a request: the request is closed and reported; the server goes on", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
    const errors = recordErrors(server);
    await serving(server, async () => {
      const client = await LineClient.open(server.serverAddress);
      client.send("pid\n");
      const pid = Number(await client.readLine(10_000));
      process.kill(pid, "SIGKILL");
      await client.ended(10_000);
      client.destroy();
      await waitFor(() => errors.length === 1, 10_000, "handleError");
      const { error, clientAddress } = errors[0];
      assert.ok(error instanceof ChildProcessError, String(error));
      assert.equal(error.pid, pid);
      assert.equal(error.signal, "SIGKILL");
      assert.ok(Array.isArray(clientAddress));
      assert.deepEqual(await ask(server.serverAddress, "after the kill"), ["after the kill"]);
    });
  });

  test("serverClose() waits for requests in children, then no child is left running", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 2 });
    const exits = recordExits(server);
    await server.listen();
    const loop = server.serveForever();
    const client = await LineClient.open(server.serverAddress);
    client.send("pid\n");
    const busy = Number(await client.readLine(10_000));
    const started = new Set(server.activeChildren);
    let closed = false;
    const closing = server.serverClose().then(() => (closed = true));
    await sleep(300);
    assert.equal(closed, false, "serverClose() waits for the request in flight");
    client.send("still served\n");
    assert.equal(await client.readLine(10_000), "still served\n");
    client.end();
    await client.ended(10_000);
    client.destroy();
    await within(15_000, closing, "serverClose()");
    await within(5_000, loop, "serveForever()");
    assert.equal(server.activeChildren.size, 0);
    for (const pid of started) assert.equal(alive(pid), false, `child ${pid} is gone`);
    assert.ok(exits.some((exit) => exit.pid === busy && exit.code === 0));
  });

  test("drainTimeout: serverClose() kills a child still serving after it, and reports the request", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 0, drainTimeout: 300 });
    const errors = recordErrors(server);
    await server.listen();
    const loop = server.serveForever();
    const client = await LineClient.open(server.serverAddress);
    try {
      client.send("pid\n");
      const pid = Number(await client.readLine(10_000));
      client.send("hang\n");
      await within(10_000, server.serverClose(), "serverClose()");
      await within(5_000, loop, "serveForever()");
      assert.equal(alive(pid), false);
      await client.ended(5_000);
      assert.ok(errors.some(({ error }) => error instanceof ChildProcessError && error.signal === "SIGKILL"));
    } finally {
      client.destroy();
    }
  });

  test("a custom server's JSON requests run in children too; statuses 0 and 1", async () => {
    class ValueServer extends ForkingMixIn(BaseServer) {
      override spareChildren = 0;
      #queue: Array<RequestEntry<{ fail?: boolean }, string>> = [[{}, "first"], [{ fail: true }, "second"]];
      override getRequest(): Promise<RequestEntry<{ fail?: boolean }, string> | null> {
        return Promise.resolve(this.#queue.shift() ?? null);
      }
    }
    const server = new ValueServer(null, ForkValue);
    const exits = recordExits(server);
    await within(20_000, server.serveForever(), "serveForever()");
    await within(20_000, server.serverClose(), "serverClose()");
    assert.deepEqual(exits.map((exit) => exit.code).sort(), [0, 1]);
  });

  test("a process the server did not start is never reaped or signalled", async () => {
    const stranger = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      assert.ok(stranger.pid !== undefined);
      const server = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
      const exits = recordExits(server);
      await serving(server, async () => {
        assert.deepEqual(await ask(server.serverAddress, "hello"), ["hello"]);
        await server.collectChildren({ blocking: true });
      });
      assert.equal(alive(stranger.pid), true, "the stranger still runs");
      assert.equal(stranger.exitCode, null);
      assert.ok(!exits.some((exit) => exit.pid === stranger.pid), "its exit was never reported");
    } finally {
      stranger.kill("SIGKILL");
    }
  });
});

describe("forking: handlers, permissions and the parent's part", () => {
  test("a handler without moduleUrl is refused at bind with HandlerLoadError", async () => {
    class Local extends StreamRequestHandler {}
    const server = new ForkingTCPServer(["127.0.0.1", 0], Local);
    await assert.rejects(server.listen(), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError);
      assert.match(error.message, /static override moduleUrl = import\.meta\.url/);
      return true;
    });
    await server.serverClose();
  });

  test("a handler the child cannot find fails its request with HandlerLoadError naming the export", async () => {
    const server = new ForkingTCPServer(["127.0.0.1", 0], RenamedHandler, { spareChildren: 0 });
    const errors = recordErrors(server);
    await serving(server, async () => {
      const socket = await connect(server.serverAddress);
      await new Promise((resolve) => socket.once("close", resolve).resume());
      await waitFor(() => errors.length === 1, 10_000, "handleError");
      const { error } = errors[0];
      assert.ok(error instanceof HandlerLoadError, String(error));
      assert.match(error.message, /no export named "NoSuchExport"/);
    });
  });

  test("the child's this.server holds the server's data fields", async () => {
    class Greeting extends ForkingTCPServer {
      greeting = "hello from the parent";
    }
    const server = new Greeting(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
    await serving(server, async () => {
      assert.deepEqual(await ask(server.serverAddress, "server"), ["hello from the parent"]);
    });
  });

  test("Deno: a child gets exactly childPermissions (default: none)", { skip: RUNTIME !== "deno" }, async () => {
    const file = join(tmpdir(), `forking-permission-${process.pid}.txt`);
    try {
      const confined = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
      await serving(confined, async () => {
        assert.deepEqual(await ask(confined.serverAddress, `write ${file}`), ["refused: NotCapable"]);
      });
      assert.equal(existsSync(file), false);
      const allowed = new ForkingTCPServer(["127.0.0.1", 0], ForkCommands, {
        spareChildren: 1,
        childPermissions: [`--allow-write=${file}`],
      });
      await serving(allowed, async () => {
        assert.deepEqual(await ask(allowed.serverAddress, `write ${file}`), ["written"]);
      });
    } finally {
      rmSync(file, { force: true });
    }
  });

  test("Deno: a server that may not start children says which permission is missing", {
    skip: RUNTIME !== "deno",
  }, async () => {
    const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
    const program = spawn(deno.execPath(), [
      "run",
      "--no-prompt",
      "--allow-net",
      "--allow-read",
      "--allow-run",
      new URL("./fixtures/fork_without_permission.ts", import.meta.url).pathname,
    ], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    program.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const code = await within(30_000, new Promise((resolve) => program.once("close", resolve)), "the program's exit");
    assert.equal(code, 0);
    assert.match(output, /ChildProcessError: a child process could not be started \(.*--allow-env.*\)/);
  });

  test("a handler running in the parent hands the rest of its request to a child", async () => {
    class Triage extends StreamRequestHandler<ForkingTCPServer> {
      override async handle(): Promise<void> {
        const line = new TextDecoder().decode(await this.rfile.readline());
        if (line === "PING\n") {
          await this.wfile.write(`PONG from ${process.pid}\n`);
          return;
        }
        await this.server.handToChild(this.request, this.clientAddress);
      }
    }
    class TriageServer extends ForkingTCPServer {
      override finishRequest(request: Connection, clientAddress: SocketAddress): Promise<void> {
        return this.runInParent(request, clientAddress, Triage);
      }
    }
    const server = new TriageServer(["127.0.0.1", 0], ForkCommands, { spareChildren: 1 });
    await serving(server, async () => {
      assert.deepEqual(await ask(server.serverAddress, "PING"), [`PONG from ${process.pid}`]);
      // The first line is consumed in the parent; the rest, sent in the same packet, reaches the child.
      const client = await LineClient.open(server.serverAddress);
      try {
        client.send("SLOW\npid\nhello\n");
        const pid = Number(await client.readLine(10_000));
        assert.ok(pid > 0 && pid !== process.pid, `served by child ${pid}`);
        assert.equal(await client.readLine(10_000), "hello\n");
        client.send("more\n");
        assert.equal(await client.readLine(10_000), "more\n");
      } finally {
        client.destroy();
      }
    });
  });
});
