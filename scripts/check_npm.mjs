#!/usr/bin/env node
// Checks the npm package as its users get it:
//  1. `npm pack` of npm/ installs into an empty project, where a script imports "sockserve" by name and completes an
//     echo round trip under Node, Bun and Deno (through node_modules);
//  2. a TypeScript consumer type-checks in strict mode without skipLibCheck, once with only Node's types, once with
//     only bun-types, and once under Deno (deno check): the published types pull in no runtime's types;
//  3. the Node test suite runs against the package's compiled files instead of dist/;
//  4. the manifest says what users rely on: deno.json's version, typed exports, engines, sideEffects, no dependencies.
// Usage: node scripts/check_npm.mjs   (after npm run build and npm run build:npm)
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => join(root, "node_modules", ".bin", name);
const work = mkdtempSync(join(tmpdir(), "sockserve-npm-"));
let failures = 0;

function step(label, command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  const ok = result.status === 0;
  console.log(`${ok ? "ok  " : "FAIL"} ${label}`);
  if (!ok) failures++;
  return ok;
}

try {
  // 1. Pack and install into an empty project.
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", work, join(root, "npm")], {
    encoding: "utf8",
  })
    .trim().split("\n").pop();
  const project = join(work, "consumer");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--silent", "--no-audit", "--no-fund", join(work, tarball)], {
    cwd: project,
    stdio: "inherit",
  });
  writeFileSync(
    join(project, "roundtrip.mjs"),
    `
import net from "node:net";
import { AsyncTCPServer, runtimeName } from "sockserve";
import { StreamRequestHandler } from "sockserve/handlers";
class Echo extends StreamRequestHandler {
  async handle() { for await (const line of this.rfile) await this.wfile.write(line); }
}
const server = await new AsyncTCPServer(["127.0.0.1", 0], Echo).listen();
const serving = server.serveForever();
const reply = await new Promise((resolve, reject) => {
  const socket = net.connect({ host: "127.0.0.1", port: server.serverAddress[1], allowHalfOpen: true });
  let text = "";
  socket.on("data", (chunk) => (text += chunk));
  socket.on("end", () => { socket.end(); resolve(text); });
  socket.on("error", reject);
  socket.end("hello from " + runtimeName() + "\\n");
});
await server.serverClose();
await serving;
if (reply !== "hello from " + runtimeName() + "\\n") throw new Error("unexpected reply " + JSON.stringify(reply));
console.log("round trip ok on", runtimeName());
`,
  );
  step("round trip under Node", process.execPath, ["roundtrip.mjs"], { cwd: project });
  step("round trip under Bun", bin("bun"), ["roundtrip.mjs"], { cwd: project });
  step("round trip under Deno", bin("deno"), ["run", "-A", "roundtrip.mjs"], { cwd: project });

  // 2. Types, in strict mode, without skipLibCheck.
  writeFileSync(
    join(project, "consumer.ts"),
    `
import { AsyncTCPServer, type Connection, type InetAddress, StreamRequestHandler, TCPServer } from "sockserve";
import { DatagramRequestHandler, type ForkedServerView, StreamRequestHandler as Lean } from "sockserve/handlers";
class Echo extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}
export class Forked extends Lean<ForkedServerView> {
  static override moduleUrl: string = import.meta.url;
  override async handle(): Promise<void> {
    await this.wfile.write(String(this.server.serverAddress));
  }
}
export class Upper extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.wfile.write(new TextDecoder().decode(await this.rfile.read()).toUpperCase());
  }
}
// One class, whichever entrypoint it came from.
const same: typeof StreamRequestHandler = Lean;
new TCPServer(["127.0.0.1", 0], Forked);
class Logged extends TCPServer {
  override verifyRequest(_request: Connection, clientAddress: unknown): boolean {
    return clientAddress !== null;
  }
}
const server: AsyncTCPServer = new AsyncTCPServer(["127.0.0.1", 0], Echo, { maxConcurrentRequests: 8 });
const address: InetAddress = server.serverAddress;
export { address, Logged, same };
`,
  );
  const tsconfig = (types) => ({
    compilerOptions: {
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      target: "ES2022",
      lib: ["ES2022", "ESNext.Disposable"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      types,
      typeRoots: [join(root, "node_modules", "@types"), join(root, "node_modules")],
    },
    files: ["consumer.ts"],
  });
  writeFileSync(join(project, "tsconfig.node.json"), JSON.stringify(tsconfig(["node"])));
  // A Bun project gets bun-types and the latest @types/node it asks for (the dev manifest pins that one under the alias
  // bun-node-types; the repository's own @types/node is Node 20's, which bun-types does not accept).
  const bunTypes = join(project, "bun-types-root");
  mkdirSync(join(bunTypes, "@types"), { recursive: true });
  symlinkSync(join(root, "node_modules", "bun-types"), join(bunTypes, "bun-types"));
  symlinkSync(join(root, "node_modules", "bun-node-types"), join(bunTypes, "@types", "node"));
  symlinkSync(join(root, "node_modules", "undici-types"), join(bunTypes, "undici-types"));
  const bunConfig = tsconfig(["bun-types"]);
  bunConfig.compilerOptions.typeRoots = [join(bunTypes, "@types"), bunTypes];
  writeFileSync(join(project, "tsconfig.bun.json"), JSON.stringify(bunConfig));
  step("types with only Node's types (tsc strict, no skipLibCheck)", bin("tsc"), ["-p", "tsconfig.node.json"], {
    cwd: project,
  });
  step("types with only bun-types (tsc strict, no skipLibCheck)", bin("tsc"), ["-p", "tsconfig.bun.json"], {
    cwd: project,
  });
  step("types under Deno (deno check)", bin("deno"), ["check", "consumer.ts"], { cwd: project });

  // 3. The Node test suite against the package's files: the compiled tests and examples, with the installed package's
  // files in place of dist's own copies of the entrypoints, src/ and runtimes/. The layout is the repository's (a
  // package.json, then dist/), because the tests find examples/echo.js at dist/examples/ under the directory that
  // holds package.json.
  const suite = join(work, "suite");
  const installed = join(project, "node_modules", "sockserve");
  cpSync(join(root, "dist"), join(suite, "dist"), { recursive: true });
  for (const entry of readdirSync(installed)) {
    if (["package.json", "README.md", "LICENSE"].includes(entry)) continue;
    rmSync(join(suite, "dist", entry), { recursive: true, force: true });
    cpSync(join(installed, entry), join(suite, "dist", entry), { recursive: true });
  }
  cpSync(join(root, "package.json"), join(suite, "package.json"));
  // The tests' data that is not code: certificates, client programs, the RPC example's .x file.
  cpSync(join(root, "tests", "fixtures"), join(suite, "tests", "fixtures"), { recursive: true });
  mkdirSync(join(suite, "examples"), { recursive: true });
  for (const file of readdirSync(join(root, "examples")).filter((name) => name.endsWith(".x"))) {
    cpSync(join(root, "examples", file), join(suite, "examples", file));
  }
  // The tests' own dev dependencies (property tests, the XDR cross-check), linked from the repository: the package
  // has none.
  mkdirSync(join(suite, "node_modules", "@stellar"), { recursive: true });
  symlinkSync(join(root, "node_modules", "@stellar", "js-xdr"), join(suite, "node_modules", "@stellar", "js-xdr"));
  for (const name of ["fast-check"]) {
    symlinkSync(join(root, "node_modules", name), join(suite, "node_modules", name));
  }
  const tests = readdirSync(join(suite, "dist", "tests")).filter((file) => file.endsWith(".test.js")).map((file) =>
    join("dist", "tests", file)
  );
  step("test suite against the package under Node", process.execPath, ["--test", ...tests], { cwd: suite });

  // 4. The manifest.
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
  const denoExports = typeof deno.exports === "string" ? { ".": deno.exports } : deno.exports;
  const problems = [];
  if (manifest.version !== deno.version) problems.push(`version ${manifest.version}, deno.json has ${deno.version}`);
  for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
    if (manifest[field] !== undefined) problems.push(`has ${field}`);
  }
  for (const subpath of Object.keys(denoExports)) {
    const entry = manifest.exports?.[subpath];
    if (typeof entry?.types !== "string" || typeof entry?.default !== "string") {
      problems.push(`exports["${subpath}"] lacks types or default`);
    }
  }
  if (manifest.engines?.node === undefined) problems.push("no engines.node");
  if (JSON.stringify(manifest.sideEffects) !== JSON.stringify(["./mod.js"])) {
    problems.push("sideEffects is not [./mod.js]");
  }
  for (const file of ["README.md", "LICENSE"]) {
    if (!readdirSync(installed).includes(file)) problems.push(`no ${file}`);
  }
  for (const problem of problems) console.log(`  package.json: ${problem}`);
  console.log(`${problems.length === 0 ? "ok  " : "FAIL"} package.json: version, typed exports, engines, sideEffects`);
  if (problems.length > 0) failures++;
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${failures === 0 ? "npm package checks passed" : `${failures} npm package check(s) failed`}`);
process.exit(failures === 0 ? 0 : 1);
