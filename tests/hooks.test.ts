// The order in which a server runs its hooks and its handler's, for every server class.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ServerClass } from "../mod.ts";
import {
  type AnyHandlerClass,
  type AnyServer,
  assertNoReply,
  closedByServer,
  connect,
  recordErrors,
  type ServerKind,
  serving,
  SUPPORTED_KINDS,
  waitFor,
  within,
} from "./_helpers.ts";

/** A server whose every hook appends its name to `log` before doing what the class does. */
interface RecordingServer extends AnyServer {
  readonly log: string[];
}

function recording(Base: ServerClass): new (...args: unknown[]) => RecordingServer {
  return class Recording extends Base {
    readonly log: string[] = [];
    override serverBind() {
      this.log.push("serverBind");
      return super.serverBind();
    }
    override serverActivate() {
      this.log.push("serverActivate");
      return super.serverActivate();
    }
    override getRequest() {
      this.log.push("getRequest");
      return super.getRequest();
    }
    override verifyRequest(request: unknown, clientAddress: unknown) {
      this.log.push("verifyRequest");
      return super.verifyRequest(request, clientAddress);
    }
    override processRequest(request: unknown, clientAddress: unknown) {
      this.log.push("processRequest");
      return super.processRequest(request, clientAddress);
    }
    override finishRequest(request: unknown, clientAddress: unknown) {
      this.log.push("finishRequest");
      return super.finishRequest(request, clientAddress);
    }
    override shutdownRequest(request: unknown) {
      this.log.push("shutdownRequest");
      return super.shutdownRequest(request);
    }
    override closeRequest(request: unknown) {
      this.log.push("closeRequest");
      return super.closeRequest(request);
    }
    override serviceActions() {
      this.log.push("serviceActions");
      return super.serviceActions();
    }
    override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
      this.log.push(`handleError: ${error}`);
    }
    override serverClose() {
      this.log.push("serverClose");
      return super.serverClose();
    }
  };
}

const ONE_REQUEST = [
  "getRequest",
  "verifyRequest",
  "processRequest",
  "finishRequest",
  "setup",
  "handle",
  "finish",
  "shutdownRequest",
  "closeRequest",
];

for (const kind of SUPPORTED_KINDS) {
  describe(`${kind.name} hooks`, () => {
    const Handler = kind.handler({
      setup(handler) {
        (handler.server as RecordingServer).log.push("setup");
      },
      async handle(handler) {
        (handler.server as RecordingServer).log.push("handle");
        await handler.wfile.write(await handler.rfile.read());
      },
      finish(handler) {
        (handler.server as RecordingServer).log.push("finish");
      },
    });

    test("run in Python's order, once each, for one request", async () => {
      const Server = recording(kind.Server);
      const server = new Server(kind.address(), Handler);
      let duringServing: string[] = [];
      await serving(server, async () => {
        assert.equal(await kind.request(server.serverAddress, "ping"), "ping");
        // serveForever() calls serviceActions() after the request, then asks for the next one.
        await within(5000, waitFor(() => server.log.filter((name) => name === "getRequest").length === 2));
        await within(5000, waitFor(() => server.log.includes("closeRequest")));
        duringServing = [...server.log];
      });
      const expected = ["serverBind", "serverActivate", ...ONE_REQUEST, "serviceActions", "getRequest"];
      if (!kind.async) assert.deepEqual(duringServing, expected);
      else {
        // processRequest() returns at once: serviceActions() and the next getRequest() may come before the handler
        // ends, but each request's own hooks keep their order.
        assert.deepEqual([...duringServing].sort(), [...expected].sort());
        const nextGet = duringServing.lastIndexOf("getRequest");
        assert.deepEqual(duringServing.filter((name, i) => i !== nextGet && ONE_REQUEST.includes(name)), ONE_REQUEST);
        assert.ok(duringServing.indexOf("serviceActions") > duringServing.indexOf("processRequest"));
      }
      assert.deepEqual(server.log.slice(duringServing.length), ["serverClose"]);
    });

    test("repeat the per-request hooks for each of three requests, and bind only once", async () => {
      const Server = recording(kind.Server);
      const server = new Server(kind.address(), Handler);
      await serving(server, async () => {
        for (const payload of ["a", "b", "c"]) assert.equal(await kind.request(server.serverAddress, payload), payload);
        await within(5000, waitFor(() => server.log.filter((name) => name === "closeRequest").length === 3));
      });
      const count = (name: string) => server.log.filter((entry) => entry === name).length;
      assert.equal(count("serverBind"), 1);
      assert.equal(count("serverActivate"), 1);
      for (const name of ONE_REQUEST.slice(1)) assert.equal(count(name), 3, name);
      assert.equal(count("serverClose"), 1);
      assert.ok(!server.log.some((name) => name.startsWith("handleError")), server.log.join(", "));
    });

    test("handleRequest() runs the same hooks for one request without serviceActions()", async () => {
      const Server = recording(kind.Server);
      const server = new Server(kind.address(), Handler);
      await server.listen();
      try {
        const answer = kind.request(server.serverAddress, "one");
        await within(5000, server.handleRequest(), "handleRequest()");
        assert.equal(await answer, "one");
        await within(5000, waitFor(() => server.log.includes("closeRequest")));
        assert.deepEqual(server.log, ["serverBind", "serverActivate", ...ONE_REQUEST]);
      } finally {
        await within(5000, server.serverClose());
      }
    });

    test("bindAndActivate: false leaves binding to the caller; serving unbound fails with ServerStateError", async () => {
      const Server = recording(kind.Server);
      const server = new Server(kind.address(), Handler, { bindAndActivate: false });
      try {
        await assert.rejects(within(5000, server.serveForever()), (error: Error) => {
          assert.equal(error.name, "ServerStateError");
          assert.match(error.message, /not bound/);
          return true;
        });
        await assert.rejects(within(5000, server.handleRequest()), { name: "ServerStateError" });
        assert.deepEqual(server.log, ["getRequest", "getRequest"]);
        await server.serverBind();
        await server.serverActivate();
        assert.equal(server.isBound(), true);
        assert.equal(await within(5000, server.listen()), server, "listen() after binding by hand binds nothing more");
        const loop = server.serveForever();
        assert.equal(await kind.request(server.serverAddress, "bound"), "bound");
        await within(5000, server.shutdown());
        await within(5000, loop);
        assert.equal(server.log.filter((name) => name === "serverBind").length, 1);
        assert.ok(!server.log.some((name) => name.startsWith("handleError")), server.log.join(", "));
      } finally {
        await server.serverClose();
      }
    });
  });
}

/** A server whose verifyRequest() gives the next of `verdicts` (an Error is thrown), recording shutdownRequest(). */
interface JudgingServer extends AnyServer {
  verdicts: Array<boolean | Error | Promise<boolean>>;
  readonly verified: unknown[];
  readonly shutDown: unknown[];
  processFailure: Error | null;
}

function judging(Base: ServerClass): new (...args: unknown[]) => JudgingServer {
  return class Judging extends Base {
    verdicts: Array<boolean | Error | Promise<boolean>> = [];
    readonly verified: unknown[] = [];
    readonly shutDown: unknown[] = [];
    processFailure: Error | null = null;
    override verifyRequest(request: unknown) {
      this.verified.push(request);
      const verdict = this.verdicts.shift() ?? true;
      if (verdict instanceof Error) throw verdict;
      return verdict;
    }
    override processRequest(request: unknown, clientAddress: unknown) {
      const failure = this.processFailure;
      this.processFailure = null;
      if (failure !== null) return Promise.reject(failure);
      return super.processRequest(request, clientAddress);
    }
    override shutdownRequest(request: unknown) {
      this.shutDown.push(request);
      return super.shutdownRequest(request);
    }
  };
}

/** An echo handler class that counts how many times it was constructed. */
function countedEcho(kind: ServerKind): { Handler: AnyHandlerClass; constructed: () => number } {
  let count = 0;
  const Base = kind.handler({
    async handle(handler) {
      await handler.wfile.write(await handler.rfile.read());
    },
  });
  class Counted extends Base {
    // deno-lint-ignore no-explicit-any
    constructor(...args: any[]) {
      super(...(args as [never, never, never]));
      count++;
    }
  }
  return { Handler: Counted, constructed: () => count };
}

/** Makes one refused request and checks what the client sees: the connection closed, or no datagram back. */
async function refusedRequest(kind: ServerKind, server: AnyServer): Promise<void> {
  if (!kind.stream) {
    await assertNoReply(kind, server.serverAddress, "refused");
    return;
  }
  const client = await connect(server.serverAddress);
  try {
    assert.equal(await within(5000, closedByServer(client)), "end", "the server closes a refused connection");
  } finally {
    client.destroy();
  }
}

for (const kind of SUPPORTED_KINDS) {
  describe(`${kind.name} verifyRequest`, () => {
    for (
      const [what, verdict] of [
        ["returning false", () => false],
        ["resolving to false", () => Promise.resolve(false)],
        ["throwing", () => new Error("refused by verifyRequest")],
      ] as const
    ) {
      test(`${what}: shutdownRequest() runs exactly once, the handler is never constructed, the client is closed`, async () => {
        const Server = judging(kind.Server);
        const { Handler, constructed } = countedEcho(kind);
        const server = new Server(kind.address(), Handler);
        const errors = recordErrors(server);
        const refusal = verdict();
        server.verdicts.push(refusal);
        await serving(server, async () => {
          await refusedRequest(kind, server);
          await within(5000, waitFor(() => server.shutDown.length === 1));
          assert.equal(constructed(), 0);
          // The next client is accepted and served.
          assert.equal(await kind.request(server.serverAddress, "accepted"), "accepted");
          await within(5000, waitFor(() => server.shutDown.length === 2));
        });
        assert.equal(server.verified.length, 2);
        assert.equal(server.shutDown[0], server.verified[0], "the refused request is the one shut down");
        assert.equal(server.shutDown.filter((request) => request === server.verified[0]).length, 1);
        assert.equal(constructed(), 1);
        if (refusal instanceof Error) {
          assert.equal(errors.length, 1);
          assert.equal(errors[0].error, refusal);
          assert.equal(errors[0].request, server.verified[0]);
        } else assert.deepEqual(errors, []);
      });
    }

    test("an error thrown by processRequest() goes to handleError, then shutdownRequest() runs once", async () => {
      const Server = judging(kind.Server);
      const { Handler, constructed } = countedEcho(kind);
      const server = new Server(kind.address(), Handler);
      const errors = recordErrors(server);
      const failure = new Error("processRequest failed");
      server.processFailure = failure;
      await serving(server, async () => {
        await refusedRequest(kind, server);
        assert.equal(await kind.request(server.serverAddress, "next"), "next");
        await within(5000, waitFor(() => server.shutDown.length === 2));
      });
      assert.deepEqual(errors.map((entry) => entry.error), [failure]);
      assert.equal(errors[0].request, server.shutDown[0]);
      assert.equal(constructed(), 1);
    });
  });
}
