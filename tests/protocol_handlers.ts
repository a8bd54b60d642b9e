// Protocol handlers the protocol tests run in every mode: workers and children import them by URL.
import { LengthPrefixedReceiver, LineReceiver, StreamProtocol } from "../handlers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes {@link BigWriter} sends: 16 MiB. */
export const BIG_WRITE_BYTES: number = 16 * 1024 * 1024;
/** Bytes a test floods into {@link PausedCounter}: 32 MiB. */
export const FLOOD_BYTES: number = 32 * 1024 * 1024;
/** How long {@link PausedCounter} keeps reading paused, in ms. */
export const PAUSE_MS = 600;

/** Echoes each chunk; the peer's half-close closes the connection (the default). */
export class EchoProtocol extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;

  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

/**
 * Echoes, and after the peer's half-close goes on writing: `total N` at once, `late` 30 ms later, then closes.
 */
export class HalfCloseProtocol extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;
  #total = 0;

  override dataReceived(data: Uint8Array): void {
    this.#total += data.length;
    this.transport.write(data);
  }

  override eofReceived(): boolean {
    this.transport.write(`total ${this.#total}\n`);
    setTimeout(() => {
      this.transport.write("late\n");
      this.transport.close();
    }, 30);
    return true;
  }
}

/**
 * Writes {@link BIG_WRITE_BYTES} in 64 KiB chunks as fast as backpressure allows, then a trailer line
 * `\nmax=BYTES pauses=N\n` (the most bytes ever queued, and how often writing was paused), then closes.
 */
export class BigWriter extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;
  #chunk = new Uint8Array(65536).map((_, i) => i & 255);
  #sent = 0;
  #max = 0;
  #pauses = 0;
  #paused = false;

  override connectionMade(): void {
    this.#pump();
  }

  override pauseWriting(): void {
    this.#paused = true;
    this.#pauses++;
  }

  override resumeWriting(): void {
    this.#paused = false;
    this.#pump();
  }

  #pump(): void {
    const transport = this.transport;
    while (!this.#paused && this.#sent < BIG_WRITE_BYTES) {
      this.#sent += this.#chunk.length;
      transport.write(this.#chunk);
      this.#max = Math.max(this.#max, transport.bufferedAmount);
    }
    if (this.#sent >= BIG_WRITE_BYTES && !this.#paused && !transport.closing) {
      transport.write(`\nmax=${this.#max} pauses=${this.#pauses}\n`);
      transport.close();
    }
  }
}

/**
 * Pauses reading as soon as connected, for {@link PAUSE_MS}; then counts the bytes. At the peer's half-close answers
 * `during-pause=N total=M` (N: bytes delivered while paused, which must be 0).
 */
export class PausedCounter extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;
  #paused = false;
  #duringPause = 0;
  #total = 0;

  override connectionMade(): void {
    this.#paused = true;
    this.transport.pauseReading();
    setTimeout(() => {
      this.#paused = false;
      this.transport.resumeReading();
    }, PAUSE_MS);
  }

  override dataReceived(data: Uint8Array): void {
    if (this.#paused) this.#duringPause += data.length;
    this.#total += data.length;
  }

  override eofReceived(): void {
    this.transport.write(`during-pause=${this.#duringPause} total=${this.#total}\n`);
  }
}

/** Echoes, but throws a `RangeError` from `dataReceived()` on a chunk that contains `boom`. */
export class FaultyProtocol extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;

  override dataReceived(data: Uint8Array): void {
    if (decoder.decode(data).includes("boom")) throw new RangeError("boom on purpose");
    this.transport.write(data);
  }
}

/** Answers `made` on connection, and each chunk upper-cased: a protocol with every callback of its own. */
export class UpperProtocol extends StreamProtocol {
  static override moduleUrl: string = import.meta.url;

  override connectionMade(): void {
    this.transport.write(encoder.encode("made\n"));
  }

  override dataReceived(data: Uint8Array): void {
    this.transport.write(decoder.decode(data).toUpperCase());
  }
}

/** Answers each line as `[LENGTH:LINE]`, its newline shown as `\\n`: the framing, made visible. */
export class FramedLines extends LineReceiver {
  static override moduleUrl: string = import.meta.url;

  override lineReceived(line: Uint8Array): void {
    this.transport.write(`[${line.length}:${decoder.decode(line).replace("\n", "\\n")}]`);
  }
}

/** Echoes lines of at most 16 bytes (newline included); a longer one fails with `LineTooLongError`. */
export class ShortLines extends LineReceiver {
  static override moduleUrl: string = import.meta.url;
  override maxLineLength = 16;

  override lineReceived(line: Uint8Array): void {
    this.transport.write(line);
  }
}

/** Echoes lines with the default limit (as `readline()`'s): answers each with its length. */
export class LineLengths extends LineReceiver {
  static override moduleUrl: string = import.meta.url;

  override lineReceived(line: Uint8Array): void {
    this.sendLine(String(line.length));
  }
}

/** Line echo with `body N`: the next N bytes are raw, echoed as `<raw:...>`, then lines again. */
export class BodyLines extends LineReceiver {
  static override moduleUrl: string = import.meta.url;
  #left = 0;

  override lineReceived(line: Uint8Array): void {
    const text = decoder.decode(line).trimEnd();
    if (text.startsWith("body ")) {
      this.#left = Number(text.slice(5));
      this.setRawMode();
    } else this.sendLine(text);
  }

  override rawDataReceived(data: Uint8Array): void {
    const body = data.subarray(0, this.#left);
    this.#left -= body.length;
    this.transport.write(`<raw:${decoder.decode(body)}>`);
    if (this.#left === 0) this.setLineMode(data.subarray(body.length));
  }
}

/** Echoes lines; on the line `pause`, pauses reading for 80 ms. Lines echo as `LINE@MS` (ms since the pause). */
export class PausingLines extends LineReceiver {
  static override moduleUrl: string = import.meta.url;
  #pausedAt = 0;
  #paused = false;

  override lineReceived(line: Uint8Array): void {
    const text = decoder.decode(line).trimEnd();
    if (this.#paused) throw new Error(`line ${text} delivered while reading was paused`);
    const since = this.#pausedAt === 0 ? 0 : Date.now() - this.#pausedAt;
    this.sendLine(`${text}@${since}`);
    if (text === "pause") {
      this.#pausedAt = Date.now();
      this.#paused = true;
      this.transport.pauseReading();
      setTimeout(() => {
        this.#paused = false;
        this.transport.resumeReading();
      }, 80);
    }
  }
}

/** Answers each message (4-byte length prefix) with a message `N:TEXT`; at most 64 bytes a message. */
export class SizedMessages extends LengthPrefixedReceiver {
  static override moduleUrl: string = import.meta.url;
  override maxMessageLength = 64;

  override messageReceived(message: Uint8Array): void {
    this.sendMessage(`${message.length}:${decoder.decode(message)}`);
  }
}
