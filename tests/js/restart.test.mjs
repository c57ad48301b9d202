// A deploy, as phoenix.js lives through it: the official client joined to a
// channel over WebSocket and over long poll, the server stopped with
// `hello_sockets stop NAME` and started again on the same port. The node
// drains (close 1012, pending polls answered "session gone", never a
// `phx_close`), so the client reconnects and rejoins by itself, and a push is
// answered again — with no code of the application's doing it.
//
// The test starts its own named hello_sockets node (HELLO_SOCKETS_BIN, built
// by run.sh) with a private name directory and cookie, on a port it reads
// from the node's log, and keeps that port for the restart.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Socket, LongPoll } from "phoenix";
import WebSocket from "ws";
import XMLHttpRequest from "xhr2";
import {
  privateEnv, run as runIn, eventually as poll, startNode as startHelloNode, WAIT_MS,
} from "./support/hello_nodes.mjs";

globalThis.XMLHttpRequest = XMLHttpRequest;

const dir = mkdtempSync(join(tmpdir(), "restart-"));
const node = `restart${process.pid}@127.0.0.1`;
const env = privateEnv(dir);
let server;
let current;
let port;
const sockets = [];

const run = (args) => runIn(env, args);
const eventually = (what, check, timeoutMs = WAIT_MS) =>
  poll(what, check, timeoutMs, () => `--- node log ---\n${current ? current.log.slice(-4000) : ""}`);

/** Starts the node on `httpPort` (0: any) and waits until it serves. */
async function startNode(httpPort) {
  current = await startHelloNode(env, node, httpPort);
  server = current.server;
  return current.port;
}

/** `hello_sockets stop NAME`, as a deploy script runs it; waits for the exit. */
async function stopNode() {
  const stopping = server;
  await run(["stop", node]);
  await eventually("the node to exit", () => stopping.exitCode !== null);
}

/** A phoenix.js socket on /socket, connected, recording how its connections closed. */
async function connect(transport) {
  const socket = new Socket(`ws://127.0.0.1:${port}/socket`, { transport, timeout: 5_000 });
  socket.closeCodes = [];
  socket.onClose((event) => socket.closeCodes.push(event && event.code));
  sockets.push(socket);
  const opened = new Promise((resolve) => socket.onOpen(resolve));
  socket.connect();
  await opened;
  return socket;
}

/** Joins `ping`; the channel remembers whether the server ever closed it. */
async function joinPing(socket) {
  const channel = socket.channel("ping", {});
  channel.closedByServer = false;
  channel.onClose(() => (channel.closedByServer = true));
  await new Promise((resolve, reject) =>
    channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject),
  );
  return channel;
}

/** A `ping` push's reply, or null on error or timeout. */
function ping(channel) {
  return new Promise((resolve) =>
    channel
      .push("ping", {}, 2_000)
      .receive("ok", resolve)
      .receive("error", () => resolve(null))
      .receive("timeout", () => resolve(null)),
  );
}

before(async () => {
  port = await startNode(0);
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  if (server && server.exitCode === null) {
    await run(["stop", node]).catch(() => server.kill("SIGKILL"));
  }
  rmSync(dir, { recursive: true, force: true });
});

test("after stop and start, phoenix.js rejoins by itself over WebSocket and long poll", { timeout: 4 * WAIT_MS }, async () => {
  const overWebSocket = await connect(WebSocket);
  const overLongPoll = await connect(LongPoll);
  assert.equal(overLongPoll.transport, LongPoll);
  const channels = [await joinPing(overWebSocket), await joinPing(overLongPoll)];
  for (const channel of channels) assert.deepEqual(await ping(channel), { ping: "pong" });

  await stopNode();
  // Then its reconnect attempts fail (1006) until the node is back.
  assert.equal(overWebSocket.closeCodes[0], 1012, "the drain closes the WebSocket with 1012");
  for (const channel of channels) {
    assert.equal(channel.closedByServer, false, "no phx_close: the channel is not over");
    assert.notEqual(channel.state, "closed");
  }

  assert.equal(await startNode(port), port, "the node is back on the same port");
  for (const [i, channel] of channels.entries()) {
    const what = i === 0 ? "the WebSocket channel" : "the long-poll channel";
    await eventually(`${what} to rejoin`, () => channel.state === "joined");
    assert.deepEqual(
      await eventually(`${what} to answer a push`, () => ping(channel)),
      { ping: "pong" },
    );
    assert.equal(channel.closedByServer, false);
  }
});
