#!/usr/bin/env node
// Runs the whole test matrix: type-check and build with tsc, then the same test files under Deno, Bun and Node.
// Usage: node scripts/test.mjs [deno] [bun] [node] [-- FILTER]   (no runtime named: all three)
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => `${root}node_modules/.bin/${name}`;
const args = process.argv.slice(2);
const dash = args.indexOf("--");
const filter = dash >= 0 ? args.slice(dash + 1) : [];
const named = (dash >= 0 ? args.slice(0, dash) : args).filter((a) => ["deno", "bun", "node"].includes(a));
const runtimes = named.length > 0 ? named : ["deno", "bun", "node"];

const testFiles = (dir, ext) =>
  readdirSync(`${root}${dir}`).filter((f) =>
    f.endsWith(`.test.${ext}`) && (filter.length === 0 || filter.some((p) => f.includes(p)))
  )
    .map((f) => `${dir}/${f}`);

function run(label, command, commandArgs) {
  console.log(`\n=== ${label}: ${[command.replace(root, ""), ...commandArgs].join(" ")}`);
  const started = Date.now();
  const result = spawnSync(command, commandArgs, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const ok = result.status === 0;
  console.log(`=== ${label}: ${ok ? "passed" : `FAILED (exit ${result.status ?? result.signal})`} in ${seconds} s`);
  return ok;
}

const results = [];
results.push(["build (tsc)", run("build", bin("tsc"), ["-p", "."])]);
if (!results[0][1]) process.exit(1);
for (const runtime of runtimes) {
  if (runtime === "deno") {
    results.push(["deno", run("deno", bin("deno"), ["test", "-A", "--unstable-net", ...testFiles("tests", "ts")])]);
  } else if (runtime === "bun") {
    results.push(["bun", run("bun", bin("bun"), ["test", ...testFiles("tests", "ts").map((f) => `./${f}`)])]);
  } else {
    results.push(["node", run("node", process.execPath, ["--test", ...testFiles("dist/tests", "js")])]);
  }
}
console.log("\n=== summary");
for (const [label, ok] of results) console.log(`${ok ? "ok  " : "FAIL"} ${label}`);
const failed = results.filter(([, ok]) => !ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
