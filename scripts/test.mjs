#!/usr/bin/env node
// Runs the whole test matrix: type-check and build with tsc, then the same test files under Deno, Bun and Node, then
// the package checks (JSR and npm).
// Usage: node scripts/test.mjs [deno] [bun] [node] [package] [-- FILTER...]   (none named: all four; FILTER keeps
// the test files whose names contain it)
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => `${root}node_modules/.bin/${name}`;
const args = process.argv.slice(2);
const dash = args.indexOf("--");
const filter = dash >= 0 ? args.slice(dash + 1) : [];
const STAGES = ["deno", "bun", "node", "package"];
const named = (dash >= 0 ? args.slice(0, dash) : args).filter((a) => STAGES.includes(a));
const stages = named.length > 0 ? STAGES.filter((stage) => named.includes(stage)) : STAGES;

const testFiles = (dir, ext) => {
  const files = readdirSync(`${root}${dir}`).filter((f) =>
    f.endsWith(`.test.${ext}`) && (filter.length === 0 || filter.some((p) => f.includes(p)))
  );
  // An empty list would make each runner look for tests on its own, everywhere (this script included).
  if (files.length === 0) {
    console.error(`no test file in ${dir} matches ${filter.join(", ")}: FILTER picks test files by name`);
    process.exit(2);
  }
  return files.map((f) => `${dir}/${f}`);
};

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

// The package checks: what `deno publish` and `npm publish` would ship, checked as their users get it.
function packageChecks() {
  const deno = bin("deno");
  const config = JSON.parse(readFileSync(`${root}deno.json`, "utf8"));
  const entrypoints = Object.values(typeof config.exports === "string" ? { ".": config.exports } : config.exports);
  const checks = [];
  const check = (label, command, commandArgs) => checks.push([`package: ${label}`, run(label, command, commandArgs)]);
  check("deno lint", deno, ["lint"]);
  check("deno fmt --check", deno, ["fmt", "--check"]);
  // --no-npm: deno doc would otherwise load node_modules/@types/node and warn about each of its `/// <reference path>`
  // lines (denoland/deno#36751). The package imports no npm module, so nothing else changes.
  check("deno doc --lint", deno, ["doc", "--lint", "--no-npm", ...entrypoints]);
  // --allow-dirty: the dry run checks what would be published, not whether it is committed. It needs no network (Deno
  // 2.9); should a later Deno need jsr.io for it and not reach it, the step is skipped and says why. Its warnings about
  // four unanalyzable dynamic imports are expected: three import handler modules by URL at run time, one bun:ffi on Bun.
  const publish = ["publish", "--dry-run", "--allow-dirty"];
  console.log(`\n=== deno publish --dry-run: deno ${publish.join(" ")}`);
  const started = Date.now();
  const dryRun = spawnSync(deno, publish, { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  process.stdout.write(dryRun.stdout ?? "");
  process.stderr.write(dryRun.stderr ?? "");
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const offline = /error sending request|dns error|failed to lookup address|tcp connect error|network is unreachable/i;
  if (dryRun.status === 0) {
    console.log(`=== deno publish --dry-run: passed in ${seconds} s`);
    checks.push(["package: deno publish --dry-run", true]);
  } else if (offline.test(`${dryRun.stdout}${dryRun.stderr}`)) {
    console.log(
      `=== deno publish --dry-run: SKIPPED in ${seconds} s: it needs the network (jsr.io), which is unreachable`,
    );
    checks.push(["package: deno publish --dry-run (skipped: jsr.io unreachable)", null]);
  } else {
    console.log(`=== deno publish --dry-run: FAILED (exit ${dryRun.status ?? dryRun.signal}) in ${seconds} s`);
    checks.push(["package: deno publish --dry-run", false]);
  }
  // Type-checks every example (README, JSDoc) without running them: most serve forever, as real servers do.
  check("deno test --doc", deno, ["test", "--doc", "--no-run", ...entrypoints, "README.md", "src/", "runtimes/"]);
  const built = run("npm run build:npm", "npm", ["run", "--silent", "build:npm"]);
  checks.push(["package: npm run build:npm", built]);
  if (built) check("check_npm", process.execPath, [`${root}scripts/check_npm.mjs`]);
  else checks.push(["package: check_npm (not run: the build failed)", false]);
  return checks;
}

const results = [];
results.push(["build (tsc)", run("build", bin("tsc"), ["-p", "."])]);
if (!results[0][1]) process.exit(1);
for (const runtime of stages) {
  if (runtime === "package") {
    results.push(...packageChecks());
  } else if (runtime === "deno") {
    results.push(["deno", run("deno", bin("deno"), ["test", "-A", "--unstable-net", ...testFiles("tests", "ts")])]);
  } else if (runtime === "bun") {
    results.push(["bun", run("bun", bin("bun"), ["test", ...testFiles("tests", "ts").map((f) => `./${f}`)])]);
  } else {
    results.push(["node", run("node", process.execPath, ["--test", ...testFiles("dist/tests", "js")])]);
  }
}
console.log("\n=== summary");
// ok: true (passed), false (failed) or null (skipped, with the reason in its label).
for (const [label, ok] of results) console.log(`${ok === null ? "skip" : ok ? "ok  " : "FAIL"} ${label}`);
const failed = results.filter(([, ok]) => ok === false).length;
const passed = results.filter(([, ok]) => ok === true).length;
const skipped = results.length - passed - failed;
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
