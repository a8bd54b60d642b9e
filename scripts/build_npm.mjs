#!/usr/bin/env node
// Builds the npm package into npm/: ESM JavaScript and .d.ts compiled by tsc from mod.ts, src/ and runtimes/, with a
// package.json whose version comes from deno.json (one version for JSR and npm), the README and the LICENSE.
// Usage: node scripts/build_npm.mjs   (npm run build:npm)
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = JSON.parse(readFileSync(`${root}deno.json`, "utf8"));
const dev = JSON.parse(readFileSync(`${root}package.json`, "utf8"));

rmSync(`${root}npm`, { recursive: true, force: true });
execFileSync(`${root}node_modules/.bin/tsc`, ["-p", `${root}tsconfig.npm.json`], { stdio: "inherit" });

const manifest = {
  name: "sockserve",
  version: deno.version,
  description:
    "Python's socketserver for Deno, Bun and Node: TCP, UDP and unix servers with sync, async, threading and forking request handling",
  license: deno.license,
  type: "module",
  main: "./mod.js",
  types: "./mod.d.ts",
  exports: {
    ".": { types: "./mod.d.ts", default: "./mod.js" },
    "./package.json": "./package.json",
  },
  files: ["mod.js", "mod.d.ts", "src/", "runtimes/", "README.md", "LICENSE"],
  engines: dev.engines,
  // mod.js plugs the detected runtime in when it loads; every other module is free of side effects. Marking mod.js
  // keeps bundlers from skipping it when they follow its re-exports (which `false` would allow, leaving no runtime).
  sideEffects: ["./mod.js"],
  keywords: ["socketserver", "tcp", "udp", "unix-socket", "server", "deno", "bun", "node"],
};
writeFileSync(`${root}npm/package.json`, JSON.stringify(manifest, null, 2) + "\n");
copyFileSync(`${root}README.md`, `${root}npm/README.md`);
copyFileSync(`${root}LICENSE`, `${root}npm/LICENSE`);
console.log(`npm/: ${manifest.name}@${manifest.version}`);
