/**
 * The Node adapter: `node:net` and `node:dgram`. Also works inside Deno and Bun (about 15% slower than their own).
 *
 * @module
 */
import type { Runtime } from "../src/transport.ts";
import { childProcesses } from "./_fork.ts";
import { nodeConnectStream } from "./_node_connect.ts";
import { lookupHost, removeFile, unixPathState } from "./_files.ts";
import { NodeDatagramSocket } from "./_node_datagram.ts";
import { nodeReusePort, NodeStreamListener, nodeTls } from "./_node_stream.ts";
import { nodeParallelism, startNodeWorker } from "./_node_worker.ts";

/** The Node adapter: `node:net` for streams, `node:dgram` for UDP. Unix datagrams are refused. */
export const nodeRuntime: Runtime = {
  name: "node",
  listenStream: (options) => NodeStreamListener.listen(options),
  listenDatagram: (options) => NodeDatagramSocket.bind(options),
  lookupHost,
  unixPathState,
  removeFile,
  startWorker: startNodeWorker,
  availableParallelism: nodeParallelism,
  childProcesses,
  connectStream: nodeConnectStream,
  tls: nodeTls,
  // Node 22.12 or later on Linux; Node 20 has none.
  reusePort: { stream: nodeReusePort, datagram: nodeReusePort },
};
