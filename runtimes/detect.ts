/**
 * Picks the adapter of the runtime this code runs on.
 *
 * @module
 */
import type { Runtime } from "../src/transport.ts";
import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { nodeRuntime } from "./node.ts";

/** The name of the runtime running this code: `"deno"`, `"bun"` or `"node"`. */
export function runtimeName(): "deno" | "bun" | "node" {
  const global = globalThis as { Deno?: unknown; Bun?: unknown };
  if (global.Deno !== undefined) return "deno";
  if (global.Bun !== undefined) return "bun";
  return "node";
}

/** The native adapter of the runtime running this code. */
export function detectRuntime(): Runtime {
  const name = runtimeName();
  return name === "deno" ? denoRuntime : name === "bun" ? bunRuntime : nodeRuntime;
}
