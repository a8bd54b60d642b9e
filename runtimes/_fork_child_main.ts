/**
 * Entry point of a forking server's child process (or a worker pool's worker) on Node and Bun:
 * `_fork_child_main <handler URL> <export name> [forking|pool]`.
 * (Deno's children start from a data module instead, see `_fork.ts`.)
 *
 * @module
 */
import process from "node:process";
import { runChild } from "./_fork_child.ts";

const [url = "", exportName = "", role = "forking"] = process.argv.slice(2);
await runChild({ url, exportName }, undefined, role === "pool" ? "pool" : "forking");
