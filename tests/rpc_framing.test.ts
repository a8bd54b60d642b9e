// The pieces under the RPC servers' fast paths, fed by hand: RecordFramer (record marking cut from chunks as they
// arrive) against every split of its input, readRecord in a stream handler over a real socket, and the UDP
// duplicate-request cache's table (XID collisions, eviction order, the byte bound, entries reused after eviction).
import assert from "node:assert/strict";
import type net from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { AsyncTCPServer, readRecord, type SocketAddress, SocketTimeoutError, StreamRequestHandler } from "../mod.ts";
import { connect, exchange, serving, sleep } from "./_helpers.ts";
import { DuplicateRequestCache } from "../src/rpc/drc.ts";
import { RecordError } from "../src/rpc/errors.ts";
import { DEFAULT_RECORD_LIMITS, frameRecord, type RecordLimits } from "../src/rpc/record.ts";
import { RecordFramer } from "../src/rpc/record_framer.ts";
import { concat } from "./_rpc.ts";

/** Feeds `chunks` to a framer and collects every record, or the error that stopped it. */
function frame(chunks: Uint8Array[], limits: RecordLimits = DEFAULT_RECORD_LIMITS): Uint8Array[] | RecordError {
  const framer = new RecordFramer(limits);
  const out: Uint8Array[] = [];
  try {
    for (const chunk of chunks) {
      framer.push(chunk);
      for (let record = framer.next(); record !== undefined; record = framer.next()) out.push(record.slice());
    }
  } catch (error) {
    if (error instanceof RecordError) return error;
    throw error;
  }
  return out;
}

/** `bytes` cut at the given points (sorted, deduplicated, inside it). */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const inside = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const point of [...inside, bytes.length]) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  return pieces;
}

const header = (length: number, last: boolean) =>
  Uint8Array.of(((last ? 0x80 : 0) | (length >>> 24)) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length);

describe("RecordFramer", () => {
  test("any fragmenting of any records, cut into any chunks, gives the records back in order", () => {
    const record = fc.record({
      message: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fragment: fc.integer({ min: 1, max: 41 }),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (
        records,
        points,
      ) => {
        const stream = concat(...records.map(({ message, fragment }) => frameRecord(message, fragment)));
        const got = frame(cut(stream, points));
        assert.ok(Array.isArray(got), `no error expected, got ${got}`);
        assert.deepEqual(got, records.map(({ message }) => message));
      }),
    );
  });

  test("a record in one fragment inside one chunk comes back as a view of that chunk, not a copy", () => {
    const message = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const chunk = concat(frameRecord(message), frameRecord(message));
    const framer = new RecordFramer(DEFAULT_RECORD_LIMITS);
    framer.push(chunk);
    const first = framer.next()!;
    assert.equal(first.buffer, chunk.buffer);
    assert.deepEqual(first, message);
    assert.deepEqual(framer.next(), message);
    assert.equal(framer.next(), undefined);
    assert.equal(framer.holding, false);
  });

  test("holding is true exactly while part of a record is held", () => {
    const framer = new RecordFramer(DEFAULT_RECORD_LIMITS);
    const bytes = frameRecord(Uint8Array.of(9, 9, 9, 9), 2);
    for (let i = 0; i < bytes.length - 1; i++) {
      framer.push(bytes.subarray(i, i + 1));
      assert.equal(framer.next(), undefined);
      assert.equal(framer.holding, true, `after byte ${i}`);
    }
    framer.push(bytes.subarray(bytes.length - 1));
    assert.deepEqual(framer.next(), Uint8Array.of(9, 9, 9, 9));
    assert.equal(framer.holding, false);
  });

  test("the limits are checked from the headers, before the bytes come", () => {
    const limits = { ...DEFAULT_RECORD_LIMITS, maxRecordSize: 16, maxFragments: 3 };
    // Over maxRecordSize: the header alone is refused.
    const big = frame([header(17, true)], limits);
    assert.ok(big instanceof RecordError && /maxRecordSize/.test(big.message), String(big));
    // Over maxRecordSize across fragments: refused at the fragment that crosses it.
    const across = frame([header(10, false), new Uint8Array(10), header(7, true)], limits);
    assert.ok(across instanceof RecordError && /longer than 16/.test(across.message), String(across));
    // A fourth fragment.
    const many = frame(
      [concat(...[1, 2, 3].map(() => concat(header(1, false), Uint8Array.of(0)))), header(1, true)],
      limits,
    );
    assert.ok(many instanceof RecordError && /more than 3 fragments/.test(many.message), String(many));
    // An empty fragment that is not the last, and an empty record.
    const empty = frame([header(0, false)], limits);
    assert.ok(empty instanceof RecordError && /empty fragment/.test(empty.message), String(empty));
    const none = frame([header(0, true)], limits);
    assert.ok(none instanceof RecordError && /empty record/.test(none.message), String(none));
    // An empty last fragment after data ends the record.
    assert.deepEqual(frame([header(2, false), Uint8Array.of(7, 8), header(0, true)], limits), [Uint8Array.of(7, 8)]);
  });
});

/**
 * A stream handler that reads records with `readRecord` until the connection ends and reports each as `[text]`, then
 * what followed the last record (`rest=…`, read from `rfile` afterwards: readRecord must take no byte past a record),
 * or the error that stopped it (`Name: message`).
 */
function recordReporter(limits: RecordLimits) {
  return class RecordReporter extends StreamRequestHandler {
    override async handle() {
      const decoder = new TextDecoder();
      let report = "";
      try {
        for (let i = 0; i < 2; i++) {
          const record = await readRecord(this.rfile, limits);
          if (record === null) {
            report += "end";
            break;
          }
          report += `[${decoder.decode(record)}]`;
        }
        if (!report.endsWith("end")) report += `rest=${decoder.decode(await this.rfile.read())}`;
      } catch (error) {
        const { name, message } = error as Error;
        const kind = error instanceof SocketTimeoutError ? "SocketTimeoutError" : name;
        report += `${kind}: ${message}`;
      }
      await this.wfile.write(new TextEncoder().encode(report));
    }
  };
}

const ascii = (text: string) => new TextEncoder().encode(text);

/** Everything `socket` receives until it closes, as text. */
function received(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.on("close", () => resolve(text));
  });
}

/** Runs `body` against an async TCP server whose handler is {@link recordReporter} with `limits`. */
function withReporter(limits: Partial<RecordLimits>, body: (address: SocketAddress) => Promise<void>) {
  const server = new AsyncTCPServer(["127.0.0.1", 0], recordReporter({ ...DEFAULT_RECORD_LIMITS, ...limits }));
  return serving(server, (s) => body(s.serverAddress));
}

describe("readRecord in a stream handler", () => {
  test("reads fragmented records one at a time and takes no byte past them", async () => {
    await withReporter({}, async (address) => {
      const stream = concat(frameRecord(ascii("hello record"), 3), frameRecord(ascii("second")), ascii("tail"));
      assert.equal(await exchange(address, stream), "[hello record][second]rest=tail");
    });
  });

  test("records that come a few bytes at a time", async () => {
    await withReporter({}, async (address) => {
      const socket = await connect(address);
      const reply = received(socket);
      const stream = concat(frameRecord(ascii("slow"), 1), frameRecord(ascii("steady"), 4));
      for (let at = 0; at < stream.length; at += 3) {
        socket.write(stream.subarray(at, at + 3));
        await sleep(2);
      }
      socket.end();
      assert.equal(await reply, "[slow][steady]rest=");
    });
  });

  test("a clean end between records is null; an end inside one is a RecordError", async () => {
    await withReporter({}, async (address) => {
      assert.equal(await exchange(address, new Uint8Array(0)), "end");
      assert.equal(await exchange(address, concat(frameRecord(ascii("one")))), "[one]end");
      assert.equal(
        await exchange(address, concat(header(10, true), ascii("abc"))),
        "RecordError: the connection ended inside a record",
      );
      assert.equal(
        await exchange(address, Uint8Array.of(0x80, 0)),
        "RecordError: the connection ended inside a record",
      );
    });
  });

  test("limits are checked from the header, before the bytes come", async () => {
    await withReporter({ maxRecordSize: 8 }, async (address) => {
      const reply = await exchange(address, header(100, true));
      assert.match(reply, /^RecordError: .*8/);
    });
  });

  test("an idle connection fails with SocketTimeoutError; a record too slow, with RecordError", async () => {
    await withReporter({ idleTimeout: 150, recordTimeout: 150 }, async (address) => {
      const idle = await connect(address);
      const idleReply = received(idle);
      const slow = await connect(address);
      const slowReply = received(slow);
      slow.write(concat(header(10, true), ascii("ab")));
      // Bytes that keep coming do not put the record's deadline off.
      const drip = setInterval(() => slow.write(ascii("c")), 40);
      try {
        assert.match(await idleReply, /^SocketTimeoutError: /);
        assert.equal(await slowReply, "RecordError: a record took longer than 150 ms");
      } finally {
        clearInterval(drip);
        idle.destroy();
        slow.destroy();
      }
    });
  });
});

describe("DuplicateRequestCache", () => {
  /** A call message's first 24 bytes: XID, CALL, rpcvers 2, program, version, procedure. */
  const call = (xid: number, procedure = 1) => {
    const bytes = new Uint8Array(40);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, xid);
    view.setUint32(8, 2);
    view.setUint32(12, 0x2000_0099);
    view.setUint32(16, 1);
    view.setUint32(20, procedure);
    return bytes;
  };
  const reply = (xid: number, fill: number, length = 28) => {
    const bytes = new Uint8Array(length).fill(fill);
    new DataView(bytes.buffer).setUint32(0, xid);
    new DataView(bytes.buffer).setUint32(4, 1);
    return bytes;
  };
  const A: [string, number] = ["127.0.0.1", 40001];
  const B: [string, number] = ["127.0.0.1", 40002];
  const V6: [string, number] = ["::1", 40001];

  test("the same XID from another port, another host or for another procedure is another call", () => {
    const cache = new DuplicateRequestCache();
    const xid = 0xfedc_ba98; // above 2^31: compared whole, not as its low bits
    for (const [from, procedure, fill] of [[A, 1, 1], [B, 1, 2], [V6, 1, 3], [A, 2, 4]] as const) {
      assert.equal(cache.check(call(xid, procedure), from), "new");
      cache.recordReply(reply(xid, fill), from);
    }
    assert.equal(cache.size, 4);
    for (const [from, procedure, fill] of [[A, 1, 1], [B, 1, 2], [V6, 1, 3]] as const) {
      assert.deepEqual(cache.check(call(xid, procedure), from), reply(xid, fill));
    }
    // Another XID with the same low 30 bits is another call too.
    assert.equal(cache.check(call(xid ^ 0x4000_0000), A), "new");
    assert.equal(cache.stats.replayed, 3);
  });

  test("a call whose reply is not sent yet is dropped; its reply is kept as a copy", () => {
    const cache = new DuplicateRequestCache();
    assert.equal(cache.check(call(5), A), "new");
    assert.equal(cache.check(call(5), A), "drop");
    const sent = reply(5, 7);
    cache.recordReply(sent, A);
    sent.fill(0);
    assert.deepEqual(cache.check(call(5), A), reply(5, 7));
    assert.equal(cache.stats.dropped, 1);
  });

  test("the oldest calls go first past maxEntries, and a reused entry keeps nothing of its last call", () => {
    const cache = new DuplicateRequestCache({ maxEntries: 4 });
    for (let xid = 1; xid <= 10; xid++) {
      assert.equal(cache.check(call(xid), A), "new");
      cache.recordReply(reply(xid, xid, 28 + xid * 4), A);
      assert.ok(cache.size <= 4);
    }
    for (let xid = 7; xid <= 10; xid++) assert.deepEqual(cache.check(call(xid), A), reply(xid, xid, 28 + xid * 4));
    for (let xid = 1; xid <= 6; xid++) assert.equal(cache.check(call(xid), A), "new", `xid ${xid} was evicted`);
  });

  test("replies past maxBytes push the oldest out", () => {
    const cache = new DuplicateRequestCache({ maxBytes: 100 });
    for (let xid = 1; xid <= 4; xid++) {
      cache.check(call(xid), A);
      cache.recordReply(reply(xid, xid, 40), A);
    }
    // 160 bytes were offered: the two oldest went.
    assert.equal(cache.size, 2);
    assert.equal(cache.check(call(1), A), "new");
    assert.deepEqual(cache.check(call(4), A), reply(4, 4, 40));
  });

  test("bad bounds are refused with what is allowed", () => {
    assert.throws(() => new DuplicateRequestCache({ maxEntries: 0 }), /maxEntries must be positive, got 0/);
    assert.throws(() => new DuplicateRequestCache({ maxEntries: 2.5 }), /maxEntries must be an integer/);
    assert.throws(() => new DuplicateRequestCache({ maxAge: -1 }), /maxAge must be positive/);
  });
});
