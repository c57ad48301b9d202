// What the tests that start their own named hello_sockets nodes share (the
// restart and presence tests): a private cluster environment (name
// directory, cookie, secret), `hello_sockets` commands bounded by their
// exit, polling with the nodes' logs in the failure message, and a node
// started on a port it reports. HELLO_SOCKETS_BIN names the binary
// (tests/js/run.sh sets it).

import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

export const bin = process.env.HELLO_SOCKETS_BIN;
export const WAIT_MS = Number(process.env.WAIT_MS || 30_000);

/** The environment of a private cluster whose files live under `dir`. */
export function privateEnv(dir) {
  assert.ok(bin, "HELLO_SOCKETS_BIN must name the hello_sockets binary (tests/js/run.sh sets it)");
  return {
    ...process.env,
    NODE_NAME_DIR: join(dir, "names"),
    NODE_COOKIE_DIR: dir,
    RELEASE_COOKIE: randomBytes(12).toString("hex"),
    SECRET_KEY_BASE: randomBytes(48).toString("base64url"),
    NO_COLOR: "1",
    RUST_LOG: "info",
  };
}

/** `hello_sockets ARGS…` in `env`; its stdout, or a rejection with its stderr. */
export function run(env, args) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(" ")}: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** Polls `check` until it gives a truthy value; fails after `timeoutMs` with `logs()`. */
export async function eventually(what, check, timeoutMs = WAIT_MS, logs = () => "") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `hello_sockets start --name NAME --http-port PORT` (0: any) and
 * waits until it serves and its console answers. Returns
 * `{name, server, log, port}`; `log` keeps growing with the node's output.
 */
export async function startNode(env, name, httpPort = 0) {
  const server = spawn(bin, ["start", "--name", name, "--http-port", String(httpPort)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const node = { name, server, log: "" };
  server.stdout.on("data", (d) => (node.log += d));
  server.stderr.on("data", (d) => (node.log += d));
  const started = node.log.length;
  node.port = await eventually(`${name} to listen`, () => {
    if (server.exitCode !== null) assert.fail(`${name} exited:\n${node.log}`);
    const m = node.log.slice(started).match(/HelloSocketsWeb\.Endpoint at http:\/\/127\.0\.0\.1:(\d+)/);
    return m && Number(m[1]);
  }, WAIT_MS, () => node.log.slice(-4000));
  await eventually(`${name}'s console`, () => run(env, ["rpc", name, "node.self"]).then(() => true, () => false));
  return node;
}
