// The official phoenix.js client (npm `phoenix`), unmodified, against the Rust
// hello_sockets server, with the `ws` package as its WebSocket.
// Where the server is, bounded waits and push replies: support/hello_sockets.mjs.

import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import {
  BASE,
  TEST_OPTIONS,
  within,
  until,
  reply,
  newSocket as newSocketOver,
  connect as connectOver,
} from "./support/hello_sockets.mjs";

/** A phoenix.js Socket on `path` using `ws`; not yet connected. */
function newSocket(path, params = {}, options = {}) {
  return newSocketOver(path, WebSocket, params, options);
}

/** A connected phoenix.js Socket using `ws`. */
function connect(path, params = {}, options = {}) {
  return connectOver(path, WebSocket, params, options);
}

/** The push's "error" response; rejects on "ok" or "timeout". */
function errorReply(push, what) {
  return within(
    new Promise((resolve, reject) => {
      push
        .receive("error", resolve)
        .receive("ok", (resp) =>
          reject(new Error(`${what}: unexpected ok ${JSON.stringify(resp)}`)),
        )
        .receive("timeout", () => reject(new Error(`${what}: push timed out`)));
    }),
    what,
  );
}

/** The payload of the next `event` on `channel`. */
function nextEvent(channel, event) {
  return within(
    new Promise((resolve) => {
      const ref = channel.on(event, (payload) => {
        channel.off(event, ref);
        resolve(payload);
      });
    }),
    `${event} on ${channel.topic}`,
  );
}

test("joins ping and gets pong, as the book's socket.js does", TEST_OPTIONS, async () => {
  const socket = await connect("/socket");
  const channel = socket.channel("ping");
  assert.deepEqual(await reply(channel.join(), "join ping"), {});
  assert.deepEqual(await reply(channel.push("ping", {}), "ping"), { ping: "pong" });
  assert.deepEqual(
    await reply(channel.push("ping", { ack_phrase: "hi" }), "ping with ack_phrase"),
    { ping: "hi" },
  );
  assert.deepEqual(await reply(channel.push("ping_hello", {}), "ping_hello"), {
    ping: "hello",
  });
  // a heartbeat round trip through the client's own heartbeat path
  const latency = await within(
    new Promise((resolve) => assert.equal(socket.ping(resolve), true)),
    "socket.ping",
  );
  assert.equal(typeof latency, "number");
  await reply(channel.leave(), "leave ping");
  assert.equal(channel.state, "closed");
});

test("a push to bench:* is broadcast to every subscriber, the sender included", TEST_OPTIONS, async () => {
  const topic = `bench:${process.pid}`;
  const sender = (await connect("/socket")).channel(topic);
  const listener = (await connect("/socket")).channel(topic);
  await reply(sender.join(), `join ${topic}`);
  await reply(listener.join(), `join ${topic} (listener)`);
  const senderCopy = nextEvent(sender, "bcast");
  const listenerCopy = nextEvent(listener, "bcast");
  assert.deepEqual(await reply(sender.push("broadcast", { hello: "world" }), "broadcast"), {});
  assert.deepEqual(await senderCopy, { hello: "world" });
  assert.deepEqual(await listenerCopy, { hello: "world" });
  // bench's ping echoes its payload
  assert.deepEqual(await reply(listener.push("ping", { n: [1, 2] }), "bench ping"), {
    n: [1, 2],
  });
});

test("a refused join is a join error; a matching wildcard topic joins", TEST_OPTIONS, async () => {
  const socket = await connect("/socket");
  const refused = socket.channel("wild:1:3");
  assert.deepEqual(await errorReply(refused.join(), "join wild:1:3"), {});
  refused.leave(); // stop phoenix.js from retrying the join
  const crashed = socket.channel("wild:a:b");
  assert.deepEqual(await errorReply(crashed.join(), "join wild:a:b"), {
    reason: "join crashed",
  });
  crashed.leave();
  const unmatched = socket.channel("nosuch");
  assert.deepEqual(await errorReply(unmatched.join(), "join nosuch"), {
    reason: "unmatched topic",
  });
  unmatched.leave();
  const wild = socket.channel("wild:2:4");
  await reply(wild.join(), "join wild:2:4");
  assert.deepEqual(await reply(wild.push("ping", {}), "wild ping"), { ping: "pong" });
  assert.equal(socket.isConnected(), true);
});

test("after a channel crash phoenix.js rejoins by itself and the channel works again", TEST_OPTIONS, async () => {
  const socket = await connect("/socket", {}, { rejoinAfterMs: () => 200 });
  const channel = socket.channel("ping");
  let joins = 0;
  const joinPush = channel.join();
  joinPush.receive("ok", () => joins++);
  await until(() => joins === 1, "first join");
  const firstJoinRef = channel.joinRef();
  const errored = within(new Promise((resolve) => channel.onError(resolve)), "phx_error");

  channel.push("ping2", {}, 2000); // no handle_in clause: the channel crashes
  await errored;
  await until(() => joins === 2 && channel.state === "joined", "automatic rejoin");
  assert.notEqual(channel.joinRef(), firstJoinRef);
  assert.deepEqual(await reply(channel.push("ping", {}), "ping after rejoin"), {
    ping: "pong",
  });
  assert.equal(socket.isConnected(), true);
});

test("the default rejoin schedule (1 s) also brings the channel back", TEST_OPTIONS, async () => {
  const socket = await connect("/socket");
  const channel = socket.channel("ping:default");
  await reply(channel.join(), "join ping:default");
  const errored = within(new Promise((resolve) => channel.onError(resolve)), "phx_error");
  channel.push("ping2", {}, 2000);
  await errored;
  await until(() => channel.state === "joined", "rejoin after 1 s");
  assert.deepEqual(await reply(channel.push("ping", {}), "ping"), { ping: "pong" });
});

test("the AuthSocket takes a token from GET /token", TEST_OPTIONS, async () => {
  const response = await within(fetch(`${BASE}/token?user_id=123`), "GET /token");
  assert.equal(response.status, 200);
  const token = await response.text();
  assert.match(token, /^SFMyNTY\./);

  const socket = await connect("/auth_socket", { token });
  const own = socket.channel("user:123");
  assert.deepEqual(await reply(own.join(), "join user:123"), {});
  const other = socket.channel("user:1");
  assert.deepEqual(await errorReply(other.join(), "join user:1"), {
    reason: "unauthorized",
  });
  other.leave();
  const ping = socket.channel("ping");
  await reply(ping.join(), "join ping on the auth socket");
  assert.deepEqual(await reply(ping.push("ping", {}), "ping"), { ping: "pong" });

  const badRequest = await within(fetch(`${BASE}/token?user_id=abc`), "GET /token?user_id=abc");
  assert.equal(badRequest.status, 400);
});

test("the AuthSocket refuses a bad token: the client never opens", TEST_OPTIONS, async () => {
  const socket = newSocket("/auth_socket", { token: "xxx" }, { reconnectAfterMs: () => 60_000 });
  let opened = false;
  socket.onOpen(() => {
    opened = true;
  });
  const failed = new Promise((resolve) => socket.onError(resolve));
  socket.connect();
  await within(failed, "connection error for a bad token");
  assert.equal(opened, false);
  assert.equal(socket.isConnected(), false);
  socket.disconnect();
});
