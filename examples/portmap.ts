/**
 * A portmapper (program 100000 version 2) on TCP and UDP, for machines without rpcbind.
 *
 * ```
 * deno run -A examples/portmap.ts [--host HOST] [--port N] | bun examples/portmap.ts … | node dist/examples/portmap.js …
 *   --host HOST (default 127.0.0.1)  --port N (default 111; 0 picks a free port)
 * ```
 *
 * Prints one line `listening on ADDRESS` when ready. SIGINT or SIGTERM: stops, exits 0. Bad options or a failed bind:
 * one line on stderr, exit 2.
 *
 * @module
 */
import process from "node:process";
import { PortmapServer } from "../mod.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

class UsageError extends Error {}

function parse(argv: readonly string[]): { host: string; port: number } {
  const options = { host: "127.0.0.1", port: 111 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const found = inline ?? argv[++i];
      if (found === undefined) throw new UsageError(`${flag} needs a value`);
      return found;
    };
    if (flag === "--host") options.host = value();
    else if (flag === "--port") {
      const text = value();
      const port = /^\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(port) || port > 65535) {
        throw new UsageError(`port must be 0-65535, got ${JSON.stringify(text)}`);
      }
      options.port = port;
    } else if (flag === "--help" || flag === "-h") throw new UsageError("usage: portmap [--host HOST] [--port N]");
    else throw new UsageError(`unknown option ${JSON.stringify(argv[i])} (try --help)`);
  }
  return options;
}

process.exitCode = await serveUntilSignal("portmap", () => new PortmapServer(parse(process.argv.slice(2))));
