// BufferedReader on its own, fed by hand: any split of the input gives what one chunk gives (property tests), the work
// per arriving byte is constant, and the memory it holds stays within a small factor of the bytes it holds.
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BufferedReader, type FlowControl } from "../handlers.ts";
import { sleep } from "./_helpers.ts";

/** One read, as data: `readline()`, `readline(limit)`, `read(size)`, or the next step of `for await`. */
type Op =
  | { kind: "line" }
  | { kind: "lineLimit"; limit: number }
  | { kind: "read"; size: number }
  | { kind: "next" };

/** What a read gave, comparable with `deepEqual`: the bytes as text, or the error's name and message. */
type Outcome = string;

const ops: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ kind: "line" }),
  fc.integer({ min: -1, max: 12 }).map((limit): Op => ({ kind: "lineLimit", limit })),
  fc.integer({ min: -1, max: 12 }).map((size): Op => ({ kind: "read", size })),
  fc.constant<Op>({ kind: "next" }),
);

/** Inputs dense in newlines, so that lines are short, long, empty and over the limit. */
const inputs: fc.Arbitrary<Uint8Array> = fc
  .array(fc.constantFrom(0x0a, 0x61, 0x62, 0x63), { maxLength: 80 })
  .map((values) => Uint8Array.from(values));

function perform(reader: BufferedReader, iterator: AsyncIterator<Uint8Array>, op: Op): Promise<Uint8Array | null> {
  switch (op.kind) {
    case "line":
      return reader.readline();
    case "lineLimit":
      return reader.readline(op.limit);
    case "read":
      return reader.read(op.size);
    case "next":
      return iterator.next().then((result) => (result.done ? null : result.value));
  }
}

function describeOutcome(value: Uint8Array | null): Outcome {
  return value === null ? "<done>" : JSON.stringify(String.fromCharCode(...value));
}

function describeError(error: unknown): Outcome {
  return error instanceof Error ? `${error.name}: ${error.message}` : `thrown ${String(error)}`;
}

/**
 * Copies `bytes` into the middle of a larger array, as sources hand out views of their own buffers (a slab, a read
 * buffer): the reader must not keep the large array for a few bytes.
 */
function inBigArray(bytes: Uint8Array, padding: number): Uint8Array {
  const backing = new Uint8Array(bytes.length + 2 * padding);
  backing.set(bytes, padding);
  return backing.subarray(padding, padding + bytes.length);
}

/** Splits `input` at `cuts` (positions, any order, duplicates ignored). */
function split(input: Uint8Array, cuts: number[], padding: number): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, input.length]) {
    if (point > from) chunks.push(inBigArray(input.subarray(from, point), padding));
    from = Math.max(from, point);
  }
  return chunks;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await null;
};

/**
 * Runs `reads` against `chunks`, pushing `schedule[i]` chunks before the i-th read and one more at a time while a read
 * waits; then ends (or fails) the input. Checks the memory bound whenever a read waits.
 */
async function run(
  chunks: Uint8Array[],
  reads: Op[],
  schedule: number[],
  maxLineLength: number,
  failure: Error | null,
): Promise<Outcome[]> {
  const reader = new BufferedReader();
  reader.maxLineLength = maxLineLength;
  const iterator = reader[Symbol.asyncIterator]();
  const outcomes: Outcome[] = [];
  let next = 0;
  let ended = false;
  const feed = (): void => {
    if (next < chunks.length) reader.push(chunks[next++]);
    else if (!ended) {
      ended = true;
      if (failure === null) reader.end();
      else reader.fail(failure);
    }
  };
  for (let i = 0; i < reads.length; i++) {
    for (let k = schedule.length === 0 ? 0 : schedule[i % schedule.length]; k > 0; k--) feed();
    let outcome: Outcome | undefined;
    perform(reader, iterator, reads[i]).then(
      (value) => (outcome = describeOutcome(value)),
      (error) => (outcome = describeError(error)),
    );
    await settle();
    while (outcome === undefined) {
      assert.ok(
        reader.heldMemory <= 4 * reader.buffered + 1024,
        `a waiting read holds ${reader.heldMemory} bytes of memory for ${reader.buffered} bytes`,
      );
      assert.ok(!ended, "a read still waits after the end of input");
      feed();
      await settle();
    }
    outcomes.push(outcome);
  }
  return outcomes;
}

describe("BufferedReader: any split of the input reads as one chunk", () => {
  const cases = fc.record({
    input: inputs,
    cuts: fc.array(fc.nat(), { maxLength: 40 }),
    padding: fc.constantFrom(0, 3, 20_000),
    reads: fc.array(ops, { minLength: 1, maxLength: 30 }),
    schedule: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 8 }),
    maxLineLength: fc.integer({ min: 1, max: 10 }),
    fails: fc.boolean(),
  });

  test("lines, limits, sizes, end of input and errors", async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ input, cuts, padding, reads, schedule, maxLineLength, fails }) => {
        const failure = fails ? new Error("connection reset") : null;
        const whole = await run(input.length > 0 ? [input] : [], reads, [1], maxLineLength, failure);
        const pieces = await run(split(input, cuts, padding), reads, schedule, maxLineLength, failure);
        assert.deepEqual(pieces, whole);
      }),
      { numRuns: 300 },
    );
  });

  test("byte by byte, with every read waiting before its bytes arrive", async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ input, reads, maxLineLength, fails }) => {
        const failure = fails ? new Error("connection reset") : null;
        const whole = await run(input.length > 0 ? [input] : [], reads, [1], maxLineLength, failure);
        const bytes = [...input].map((byte) => Uint8Array.of(byte));
        assert.deepEqual(await run(bytes, reads, [0], maxLineLength, failure), whole);
      }),
      { numRuns: 200 },
    );
  });
});

/** CPU milliseconds spent by this process (all threads), so that time the machine gives to others does not count. */
function cpuMilliseconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** CPU time to read `lines` lines of `length` bytes, each sent a byte at a time while `readline()` waits. */
async function trickle(lines: number, length: number): Promise<number> {
  const reader = new BufferedReader();
  const line = new Uint8Array(length).fill(0x61);
  line[length - 1] = 0x0a;
  const started = cpuMilliseconds();
  for (let n = 0; n < lines; n++) {
    const read = reader.readline();
    for (let i = 0; i < length; i++) reader.push(line.subarray(i, i + 1));
    assert.equal((await read).length, length);
  }
  return cpuMilliseconds() - started;
}

describe("BufferedReader: work and memory per byte", () => {
  test("a line sent a byte at a time costs per byte what short lines do, however long it is", async () => {
    // The same 32 KiB, byte by byte, as eight 4 KiB lines and as one 32 KiB line. Linear reading makes both cost the
    // same; rescanning what arrived on every byte made the long line cost 8 times more (and 3.5 s of CPU). Lowest of
    // up to 5 tries, in CPU time, so that a loaded machine cannot make this fail.
    await trickle(8, 4096); // warm up
    let ratio = Infinity;
    for (let attempt = 0; attempt < 5 && ratio > 3; attempt++) {
      const short = await trickle(8, 4096);
      const long = await trickle(1, 32768);
      ratio = Math.min(ratio, long / Math.max(short, 0.5));
    }
    assert.ok(ratio <= 3, `one 32 KiB line cost ${ratio.toFixed(1)} times eight 4 KiB lines`);
  });

  test("bytes trickling into a waiting readline() cost a small factor of their size, not an array each", async () => {
    const reader = new BufferedReader();
    const read = reader.readline();
    // Each byte a view of a 16 KiB array, as a read copied into a shared slab is.
    for (let i = 0; i < 20_000; i++) {
      reader.push(inBigArray(Uint8Array.of(0x61), 8192));
      if (i % 997 === 0 || i < 10) {
        assert.ok(reader.heldMemory <= 4 * reader.buffered + 1024, `${reader.heldMemory} bytes held for ${i + 1}`);
      }
    }
    assert.equal(reader.buffered, 20_000);
    assert.ok(reader.heldMemory <= 2 * 20_000 + 1024, `${reader.heldMemory} bytes held for 20,000`);
    reader.push(Uint8Array.of(0x0a));
    assert.equal((await read).length, 20_001);
    assert.equal(reader.heldMemory, 0, "nothing is held once everything was read");
  });

  test("what is left after a long line does not keep the long line's array", async () => {
    const reader = new BufferedReader();
    const long = new Uint8Array(60_000).fill(0x62);
    long[59_998] = 0x0a; // one line of 59,999 bytes, then one byte of the next line
    const first = reader.readline();
    for (let i = 0; i < long.length; i += 1000) reader.push(long.subarray(i, i + 1000));
    assert.equal((await first).length, 59_999);
    const second = reader.readline(); // waits for the rest of the next line
    assert.equal(reader.buffered, 1);
    assert.ok(reader.heldMemory <= 1024 + 4, `${reader.heldMemory} bytes held for 1`);
    reader.push(Uint8Array.of(0x63, 0x0a));
    assert.deepEqual([...(await second)], [0x62, 0x63, 0x0a]);
  });

  test("the source is paused when the memory held, not only the bytes, reaches 64 KiB with nobody reading", () => {
    let paused = 0;
    const flow: FlowControl = { pause: () => paused++, resume: () => {} };
    const reader = new BufferedReader(flow);
    let pushed = 0;
    while (paused === 0 && pushed < 70_000) {
      reader.push(Uint8Array.of(0x61));
      pushed++;
    }
    assert.equal(paused, 1, "paused once");
    assert.ok(pushed <= 64 * 1024, `paused after ${pushed} bytes`);
    assert.ok(reader.heldMemory <= 2 * 64 * 1024, `${reader.heldMemory} bytes held`);
  });

  test("chunks are returned as they came where they can be", async () => {
    const reader = new BufferedReader();
    const line = Uint8Array.of(0x61, 0x0a);
    const waiting = reader.readline();
    reader.push(line);
    assert.equal(await waiting, line, "a chunk that is the awaited line is that line");
    const early = Uint8Array.of(0x62, 0x0a);
    reader.push(early);
    assert.equal(await reader.readline(), early, "a chunk that is the next line is that line");
    const two = Uint8Array.of(0x63, 0x0a, 0x64, 0x0a);
    reader.push(two);
    const [a, b] = [await reader.readline(), await reader.readline()];
    assert.equal(a.buffer, two.buffer, "lines of one chunk are views of it");
    assert.equal(b.buffer, two.buffer);
  });
});

describe("BufferedReader: peek, skip and fill", () => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  test("fill() waits for enough bytes without taking them; peek() shows them; skip() takes some", async () => {
    const reader = new BufferedReader();
    assert.equal(reader.peek().length, 0);
    const filled = reader.fill(5);
    reader.push(new TextEncoder().encode("ab"));
    reader.push(new TextEncoder().encode("cdef"));
    assert.equal(await filled, 6, "resolves with all that is buffered once there are 5");
    assert.equal(text(reader.peek()), "abcdef");
    assert.equal(reader.skip(2), 2);
    assert.equal(text(reader.peek()), "cdef");
    assert.equal(await reader.fill(1), 4, "already there: resolves at once");
    assert.equal(text(await reader.read(4)), "cdef", "fill() and peek() took nothing");
    assert.equal(reader.skip(10), 0, "nothing left to drop");
  });

  test("a header skipped in one chunk: the bytes after it are read as lines, and later chunks follow them", async () => {
    for (const rest of ["hello\nwor", "x".repeat(127) + "\n", "y".repeat(300) + "\n"]) {
      const reader = new BufferedReader();
      const filled = reader.fill(1);
      const chunk = new TextEncoder().encode(`PROXY TCP4 192.0.2.1 127.0.0.1 40000 8000\r\n${rest}`);
      reader.push(chunk);
      await filled;
      assert.equal(reader.peek(), chunk, "a chunk held whole is shown as it is");
      assert.equal(reader.skip(43), 43);
      assert.equal(text(reader.peek()), rest);
      reader.push(new TextEncoder().encode("ld\n"));
      reader.end();
      const lines: string[] = [];
      for await (const line of reader) lines.push(text(line));
      assert.deepEqual(lines, rest.startsWith("hello") ? ["hello\n", "world\n"] : [rest, "ld\n"]);
    }
  });

  test("fillThen() calls back at once when the bytes are there, else from push(); a read it starts keeps its timers", async () => {
    const reader = new BufferedReader();
    reader.push(Uint8Array.of(1, 2));
    const calls: Array<[unknown, number]> = [];
    reader.fillThen(2, (error, buffered) => calls.push([error, buffered]));
    assert.deepEqual(calls, [[undefined, 2]], "at once");
    reader.skip(2);
    reader.lineTimeout = 30;
    let line: Promise<Uint8Array> | undefined;
    reader.fillThen(3, (error, buffered) => {
      calls.push([error, buffered]);
      reader.skip(buffered);
      line = reader.readline(); // parked from inside push(): no byte of its line has arrived
    });
    reader.push(Uint8Array.of(3, 4, 5));
    assert.deepEqual(calls[1], [undefined, 3], "from push(), in the same turn");
    await sleep(80);
    let settled = false;
    void line!.then(() => (settled = true), () => (settled = true));
    await sleep(0);
    assert.equal(settled, false, "the new read's line deadline did not start: it began no line");
    reader.push(new TextEncoder().encode("ok\n"));
    assert.equal(text(await line!), "ok\n");
    const failed = new BufferedReader();
    failed.fillThen(1, (error, buffered) => calls.push([error, buffered]));
    failed.fail(new Error("reset by peer"));
    assert.match(String(calls[2][0]), /reset by peer/);
  });

  test("fill() resolves with fewer bytes at end of input, rejects with the input's error, and times out", async () => {
    const ended = new BufferedReader();
    const short = ended.fill(10);
    ended.push(Uint8Array.of(1, 2, 3));
    ended.end();
    assert.equal(await short, 3);
    const failed = new BufferedReader();
    const broken = failed.fill(1);
    failed.fail(new Error("reset by peer"));
    await assert.rejects(broken, /reset by peer/);
    const slow = new BufferedReader();
    slow.timeout = 20;
    await assert.rejects(slow.fill(1), { name: "SocketTimeoutError" });
  });
});
