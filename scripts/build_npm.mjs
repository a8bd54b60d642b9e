#!/usr/bin/env node
// Builds the npm package into npm/: ESM JavaScript and .d.ts compiled by tsc from the entrypoints, src/ and runtimes/,
// with a package.json whose version and entrypoints come from deno.json (one version and one API for JSR and npm), the
// README and the LICENSE.
// Usage: node scripts/build_npm.mjs   (npm run build:npm)
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = JSON.parse(readFileSync(`${root}deno.json`, "utf8"));
const dev = JSON.parse(readFileSync(`${root}package.json`, "utf8"));

rmSync(`${root}npm`, { recursive: true, force: true });
execFileSync(`${root}node_modules/.bin/tsc`, ["-p", `${root}tsconfig.npm.json`], { stdio: "inherit" });

// deno.json's exports ("." and subpaths, each a .ts file) as npm exports of the compiled .js and .d.ts.
const entrypoints = typeof deno.exports === "string" ? { ".": deno.exports } : deno.exports;
const compiled = Object.entries(entrypoints).map(([subpath, file]) => {
  const stem = file.replace(/^\.\//, "").replace(/\.ts$/, "");
  return [subpath, { types: `./${stem}.d.ts`, default: `./${stem}.js` }];
});
const main = Object.fromEntries(compiled)["."];

const manifest = {
  name: "sockserve",
  version: deno.version,
  description:
    "Python's socketserver for Deno, Bun and Node: TCP, UDP and unix servers with sync, async, threading and forking request handling",
  license: deno.license,
  type: "module",
  main: main.default,
  types: main.types,
  exports: { ...Object.fromEntries(compiled), "./package.json": "./package.json" },
  files: [
    ...compiled.flatMap(([, { types, default: js }]) => [js.slice(2), types.slice(2)]),
    "src/",
    "runtimes/",
    "README.md",
    "LICENSE",
  ],
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
