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
