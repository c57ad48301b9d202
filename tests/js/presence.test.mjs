// Presence across two nodes, with the official client's `Presence` class:
// two named hello_sockets nodes joined in one cluster, alice on one and bob
// on the other in `presence:lobby`. Each sees both (`onSync`, `onJoin`,
// `list`); a status update reaches the other; and when bob's client is
// killed (kill -9 of its process: no leave, no close frame), he leaves
// everyone's list (`onLeave`).
//
// The test starts its own nodes (HELLO_SOCKETS_BIN, built by run.sh) with a
// private name directory and cookie; bob's client runs in a child process.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";
import {
  privateEnv, run as runIn, eventually as poll, startNode as startHelloNode, WAIT_MS,
} from "./support/hello_nodes.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "presence-"));
const env = privateEnv(dir);
const nodes = {};
const sockets = [];
let bobClient;

const run = (args) => runIn(env, args);
const logs = () => Object.entries(nodes).map(([n, s]) => `--- ${n} ---\n${s.log.slice(-2000)}`).join("\n");
const eventually = (what, check) => poll(what, check, WAIT_MS, logs);

async function startNode(short) {
  nodes[short] = await startHelloNode(env, `${short}${process.pid}@127.0.0.1`);
  return nodes[short];
}

/** Joins `presence:lobby` as `user` on `node`; the client's Presence records what it saw. */
async function joinLobby(node, user) {
  const socket = new Socket(`ws://127.0.0.1:${node.port}/socket`, { transport: WebSocket, timeout: 5_000 });
  sockets.push(socket);
  socket.connect();
  const channel = socket.channel("presence:lobby", { user });
  const presence = new Presence(channel);
  const seen = { joins: [], leaves: [], syncs: 0 };
  presence.onJoin((id, current) => { if (!current) seen.joins.push(id) });
  presence.onLeave((id, current) => { if (current.metas.length === 0) seen.leaves.push(id) });
  presence.onSync(() => (seen.syncs += 1));
  await new Promise((resolve, reject) =>
    channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject),
  );
  return { socket, channel, presence, seen };
}

const users = (client) => client.presence.list((id) => id).sort();

before(async () => {
  await startNode("presa");
  await startNode("presb");
  await run(["rpc", nodes.presb.name, `node.connect ${nodes.presa.name}`]);
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  if (bobClient && bobClient.exitCode === null) bobClient.kill("SIGKILL");
  for (const node of Object.values(nodes)) {
    if (node.server.exitCode === null) await run(["stop", node.name]).catch(() => node.server.kill("SIGKILL"));
  }
  rmSync(dir, { recursive: true, force: true });
});

test("two clients on two nodes see each other, updates and a killed client's leave", { timeout: 4 * WAIT_MS }, async () => {
  const alice = await joinLobby(nodes.presa, "alice");
  const carol = await joinLobby(nodes.presb, "carol");
  await eventually("alice and carol to see each other", () =>
    users(alice).join() === "alice,carol" && users(carol).join() === "alice,carol");
  assert.ok(alice.seen.joins.includes("carol"), JSON.stringify(alice.seen));
  assert.ok(alice.seen.syncs > 0);

  // bob: a client in its own process on the second node, killed with -9.
  bobClient = spawn(process.execPath, [join(here, "support", "presence_client.mjs"), `ws://127.0.0.1:${nodes.presb.port}/socket`, "bob"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await eventually("bob to be seen on both nodes", () =>
    users(alice).join() === "alice,bob,carol" && users(carol).join() === "alice,bob,carol");

  // A status update reaches the other node's client as a meta change.
  await new Promise((resolve, reject) =>
    carol.channel.push("status", { status: "away" }).receive("ok", resolve).receive("error", reject));
  await eventually("carol away, on alice's side", () => {
    const metas = alice.presence.list((id, { metas }) => ({ id, metas })).find((p) => p.id === "carol").metas;
    return metas.length === 1 && metas[0].status === "away";
  });

  // Operators see the same from either node's console.
  const listed = await run(["rpc", nodes.presb.name, "tracker.list presence:lobby"]);
  assert.deepEqual(listed.split("\n").map((l) => l.split("  ").slice(0, 2).join(" ")).sort(),
    [`alice ${nodes.presa.name}`, `bob ${nodes.presb.name}`, `carol ${nodes.presb.name}`]);
  const stats = await run(["rpc", nodes.presa.name, "tracker.stats"]);
  assert.match(stats, /3 entries/);
  assert.match(stats, new RegExp(`${nodes.presb.name}#\\d+ up`));

  bobClient.kill("SIGKILL");
  await eventually("bob to leave both lists", () =>
    users(alice).join() === "alice,carol" && users(carol).join() === "alice,carol");
  assert.ok(alice.seen.leaves.includes("bob"), JSON.stringify(alice.seen));
  assert.ok(carol.seen.leaves.includes("bob"), JSON.stringify(carol.seen));
});
