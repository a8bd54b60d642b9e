// How serveForever() takes requests: by callback where the adapter can (Bun, Node), through getRequest() otherwise.
// Either way no request is lost, none is taken while a synchronous server handles one, and overrides are honoured.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type AnyServer,
  countingEcho,
  type ServerKind,
  serving,
  sleep,
  SUPPORTED_KINDS,
  text,
  waitFor,
  within,
} from "./_helpers.ts";

/** An echo that counts its handlers; "stop" first calls `shutdown()` (not awaited). */
function stoppableEcho(kind: ServerKind) {
  return countingEcho(kind, async (data, handler) => {
    if (text(data) === "stop") void (handler.server as AnyServer).shutdown();
    await sleep(2);
  });
}

const PAYLOADS = Array.from({ length: 12 }, (_, i) => `request ${i}`);

for (const kind of SUPPORTED_KINDS) {
  describe(`${kind.name} taking requests`, () => {
    test("requests that arrived before serveForever() are all served once it starts", async () => {
      const { Handler, state } = stoppableEcho(kind);
      const server = kind.create(Handler);
      await server.listen();
      const replies = PAYLOADS.map((payload) => kind.request(server.serverAddress, payload, 8000));
      try {
        await sleep(100);
        assert.equal(state.started, 0, "nothing is served before serveForever()");
        const loop = server.serveForever();
        assert.deepEqual(await within(8000, Promise.all(replies)), PAYLOADS);
        await within(5000, server.shutdown());
        await within(5000, loop);
      } finally {
        await within(5000, server.serverClose());
      }
      assert.equal(state.started, PAYLOADS.length);
    });

    test(
      kind.async
        ? "a burst of requests is served concurrently"
        : "a burst of requests is served one at a time (no request is taken while one is handled)",
      async () => {
        const { Handler, state } = stoppableEcho(kind);
        await serving(kind.create(Handler), async (server) => {
          const replies = PAYLOADS.map((payload) => kind.request(server.serverAddress, payload, 8000));
          assert.deepEqual(await within(8000, Promise.all(replies)), PAYLOADS);
        });
        if (kind.async) assert.ok(state.maxRunning > 1, `at most ${state.maxRunning} ran at once`);
        else assert.equal(state.maxRunning, 1);
      },
    );

    test("after shutdown() from a handler, a request that arrives waits, untouched, for the next serveForever()", async () => {
      const { Handler, state } = stoppableEcho(kind);
      const server = kind.create(Handler);
      await server.listen();
      try {
        const first = server.serveForever();
        assert.equal(await kind.request(server.serverAddress, "stop", 8000), "stop");
        await within(5000, first, "serveForever() after shutdown() from a handler");
        const later = kind.request(server.serverAddress, "later", 8000);
        await sleep(150);
        assert.equal(state.started, 1, "a request was taken after shutdown()");
        const second = server.serveForever();
        assert.equal(await within(8000, later), "later");
        await within(5000, server.shutdown());
        await within(5000, second);
      } finally {
        await within(5000, server.serverClose());
      }
    });

    test("an overridden getRequest() still provides every request, and serviceActions() runs after each", async () => {
      const { Handler } = stoppableEcho(kind);
      let fetched = 0;
      let serviced = 0;
      const Counting = class extends kind.Server {
        override getRequest() {
          fetched++;
          return super.getRequest();
        }
      };
      const server = new Counting(kind.address(), Handler) as AnyServer;
      server.serviceActions = () => void serviced++;
      await serving(server, async () => {
        for (const payload of PAYLOADS.slice(0, 3)) {
          assert.equal(await kind.request(server.serverAddress, payload, 8000), payload);
        }
        await within(5000, waitFor(() => serviced >= 3));
      });
      assert.ok(fetched >= 3, `getRequest() called ${fetched} times for 3 requests`);
    });
  });
}
