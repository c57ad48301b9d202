// The official phoenix.js client over its LongPoll transport against the Rust
// hello_sockets server. phoenix.js polls with XMLHttpRequest, which Node lacks:
// the `xhr2` package provides it, as a browser would.
// Where the server is, bounded waits and push replies: support/hello_sockets.mjs.

import { test } from "node:test";
import assert from "node:assert/strict";
import XMLHttpRequest from "xhr2";
import { LongPoll } from "phoenix";
import { TEST_OPTIONS, within, reply, connect } from "./support/hello_sockets.mjs";

globalThis.XMLHttpRequest = XMLHttpRequest;

/** A phoenix.js Socket on /socket using the LongPoll transport, connected. */
function connectLongPoll() {
  return connect("/socket", LongPoll);
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
