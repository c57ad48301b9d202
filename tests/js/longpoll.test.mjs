// The official phoenix.js client over its LongPoll transport against the Rust
// hello_sockets server. phoenix.js polls with XMLHttpRequest, which Node lacks:
// the `xhr2` package provides it, as a browser would.
//
// run.sh starts the server and sets HELLO_SOCKETS_URL (http://127.0.0.1:<port>).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import XMLHttpRequest from "xhr2";
import { Socket, LongPoll } from "phoenix";

globalThis.XMLHttpRequest = XMLHttpRequest;

const BASE = process.env.HELLO_SOCKETS_URL;
if (!BASE) {
  throw new Error("HELLO_SOCKETS_URL is not set: run tests/js/run.sh");
}
const WS_BASE = BASE.replace(/^http/, "ws");
const WAIT_MS = Number(process.env.WAIT_MS || 15_000);
const TEST_OPTIONS = { timeout: 4 * WAIT_MS };

const sockets = [];
after(() => {
  for (const socket of sockets) socket.disconnect();
});

function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A phoenix.js Socket on /socket using the LongPoll transport, connected. */
async function connectLongPoll() {
  const socket = new Socket(`${WS_BASE}/socket`, {
    transport: LongPoll,
    timeout: WAIT_MS,
  });
  sockets.push(socket);
  const opened = new Promise((resolve) => socket.onOpen(resolve));
  socket.connect();
  await within(opened, "long-poll connect");
  return socket;
}

function reply(push, what) {
  return within(
    new Promise((resolve, reject) => {
      push
        .receive("ok", resolve)
        .receive("error", (resp) => reject(new Error(`${what}: error ${JSON.stringify(resp)}`)))
        .receive("timeout", () => reject(new Error(`${what}: push timed out`)));
    }),
    what,
  );
}

test("over long poll, phoenix.js joins, pushes and gets replies", TEST_OPTIONS, async () => {
  const socket = await connectLongPoll();
  assert.equal(socket.transport, LongPoll);
  const channel = socket.channel("ping", {});
  await reply(channel.join(), "join ping");
  assert.deepEqual(await reply(channel.push("ping", {}), "ping"), { ping: "pong" });
  assert.deepEqual(await reply(channel.push("ping_hello", {}), "ping_hello"), { ping: "hello" });
});

test("over long poll, broadcasts reach the sender and a WebSocket-less peer", TEST_OPTIONS, async () => {
  const a = await connectLongPoll();
  const b = await connectLongPoll();
  const topic = `bench:lp-${process.pid}`;
  const channelA = a.channel(topic, {});
  const channelB = b.channel(topic, {});
  await reply(channelA.join(), "join a");
  await reply(channelB.join(), "join b");
  const got = (channel) =>
    within(new Promise((resolve) => channel.on("bcast", resolve)), "bcast");
  const atA = got(channelA);
  const atB = got(channelB);
  await reply(channelA.push("broadcast", { n: 7 }), "broadcast");
  assert.deepEqual(await atA, { n: 7 });
  assert.deepEqual(await atB, { n: 7 });
});

test("over long poll, a refused join is an error", TEST_OPTIONS, async () => {
  const socket = await connectLongPoll();
  const channel = socket.channel("wild:1:3", {});
  const refused = await within(
    new Promise((resolve) => channel.join().receive("error", resolve)),
    "refused join",
  );
  assert.deepEqual(refused, {});
  channel.leave();
});
