// Handler classes named by URL (for worker threads and child processes): found, or refused with a clear message.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HandlerLoadError, handlerLocation, loadHandlerClass, TCPServer } from "../mod.ts";
import { exchange, serving } from "./_helpers.ts";
import { Alias, BadUrl, LocatedEcho, Unlocated } from "./fixtures/handlers.ts";

/** The fixture's URL as this runtime sees it: `.ts` from source, `.js` in the compiled dist/. */
const fixtureUrl = (): string => LocatedEcho.moduleUrl;

describe("handlerLocation()", () => {
  test("a class with `static override moduleUrl = import.meta.url` is located at its module, under its name", () => {
    const location = handlerLocation(LocatedEcho);
    assert.deepEqual(location, { url: fixtureUrl(), exportName: "LocatedEcho" });
    assert.match(location.url, /^file:\/\/.*\/tests\/fixtures\/handlers\.(ts|js)$/);
  });

  test("exportName names the export when it differs from the class name", () => {
    assert.deepEqual(handlerLocation(Alias), { url: fixtureUrl(), exportName: "Alias" });
  });

  test("a class without moduleUrl → HandlerLoadError telling to add it", () => {
    assert.throws(() => handlerLocation(Unlocated), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError, `got ${error}`);
      assert.match(error.message, /^Unlocated cannot be imported by a worker or child process/);
      assert.match(error.message, /add `static override moduleUrl = import\.meta\.url;` to the class and export it/);
      return true;
    });
  });

  test("a moduleUrl that is not a URL → HandlerLoadError saying so", () => {
    assert.throws(() => handlerLocation(BadUrl), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError, `got ${error}`);
      assert.match(error.message, /moduleUrl of BadUrl is not a URL: "handlers\.ts" \(use import\.meta\.url\)/);
      return true;
    });
  });
});

describe("loadHandlerClass()", () => {
  test("imports the very class handlerLocation() located, which then serves requests", async () => {
    const Loaded = await loadHandlerClass(handlerLocation(LocatedEcho));
    assert.equal(Loaded, LocatedEcho);
    await serving(new TCPServer(["127.0.0.1", 0], Loaded), async (server) => {
      assert.equal(await exchange(server.serverAddress, "hi\n"), "located: hi\n");
    });
  });

  test("finds a class exported under its exportName", async () => {
    assert.equal(await loadHandlerClass(handlerLocation(Alias)), Alias);
  });

  test("a missing module → HandlerLoadError naming the URL", async () => {
    const url = new URL("./fixtures/no_such_module.ts", fixtureUrl()).href;
    await assert.rejects(loadHandlerClass({ url, exportName: "Echo" }), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError, `got ${error}`);
      assert.ok(error.message.includes(`cannot import handler module ${url}`), error.message);
      assert.ok(error.cause !== undefined, "the import error is kept as the cause");
      return true;
    });
  });

  test("a module without that export → HandlerLoadError naming the export and listing the module's exports", async () => {
    await assert.rejects(loadHandlerClass({ url: fixtureUrl(), exportName: "Missing" }), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError, `got ${error}`);
      assert.ok(error.message.includes(`handler module ${fixtureUrl()} has no export named "Missing"`), error.message);
      assert.match(error.message, /\(its exports: Alias, BadUrl, LocatedEcho, Unlocated, notAHandler\)/);
      return true;
    });
  });

  test("an export that is not a class → HandlerLoadError saying what it is", async () => {
    await assert.rejects(loadHandlerClass({ url: fixtureUrl(), exportName: "notAHandler" }), (error: Error) => {
      assert.ok(error instanceof HandlerLoadError, `got ${error}`);
      assert.match(error.message, /export "notAHandler" of .* is a number, not a handler class/);
      return true;
    });
  });
});
