/**
 * The shapes the raw baselines serve in (`scripts/raw_echo.ts`, `scripts/raw_tls_echo.ts`): one connection at a time,
 * and an echo that awaits each read and each write as a handler does.
 *
 * @module
 */
/** One connection served at a time: the others are paused (left unread) until the one being served closes. */
export function serialTurns<S extends { pause(): void; resume(): void }>(): { arrive(s: S): void; leave(s: S): void } {
  const waiting: S[] = [];
  let current: S | null = null;
  return {
    arrive(s) {
      if (current === null) current = s;
      else {
        s.pause();
        waiting.push(s);
      }
    },
    leave(s) {
      if (s !== current) {
        const index = waiting.indexOf(s);
        if (index >= 0) waiting.splice(index, 1);
        return;
      }
      current = waiting.shift() ?? null;
      current?.resume();
    },
  };
}

/**
 * An echo in the shape of a handler — `for (;;) { const line = await rfile.readline(); await wfile.write(line); }` —
 * on a raw socket: each item from the socket's callback settles a parked read, and a loop awaits it, then awaits its
 * echo. Returns the function the callback feeds items to; `null` stops the loop.
 */
export function awaitingEcho<T>(echo: (item: T) => Promise<unknown>): (item: T | null) => void {
  const queued: Array<T | null> = [];
  let wake: ((item: T | null) => void) | null = null;
  const read = (): Promise<T | null> => {
    if (queued.length > 0) return Promise.resolve(queued.shift()!);
    return new Promise((resolve) => (wake = resolve));
  };
  void (async () => {
    for (;;) {
      const item = await read();
      if (item === null) return;
      await echo(item);
    }
  })();
  return (item) => {
    const resolve = wake;
    if (resolve === null) return void queued.push(item);
    wake = null;
    resolve(item);
  };
}

/**
 * The length of the PROXY protocol v1 line a connection's first chunk starts with (`PROXY TCP4 SOURCE DESTINATION
 * SOURCE_PORT DESTINATION_PORT`), its fields checked as a server that trusts them must; -1 when there is none. The raw
 * servers' share of the PROXY protocol (`proxy` style), the bound of the library's: the header whole in the first
 * chunk, as the load generator sends it.
 */
export function proxyLineLength(chunk: Uint8Array): number {
  const end = chunk.indexOf(0x0a);
  if (end < 7 || chunk[end - 1] !== 0x0d) return -1;
  const line = String.fromCharCode.apply(null, chunk.subarray(0, end - 1) as unknown as number[]);
  const fields = line.split(" ");
  if (fields.length !== 6 || fields[0] !== "PROXY" || fields[1] !== "TCP4") return -1;
  for (const host of [fields[2], fields[3]]) {
    const parts = host.split(".");
    if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) return -1;
  }
  for (const port of [fields[4], fields[5]]) if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return -1;
  return end + 1;
}
