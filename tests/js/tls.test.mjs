// The official phoenix.js client over wss://: a hello_sockets server in
// production mode with a self-signed certificate that `hello_sockets
// gen-cert` makes for the test (as `mix phx.gen.cert` would), serving HTTPS
// beside plain HTTP. The client trusts that certificate only (the `ws`
// package's `ca` option), joins, pushes, and lives through a restart of the
// server on the same ports; the HTTPS answer carries HSTS, the plain one not.
// Then the store (sneakers23) the same way: its page over HTTPS, a product
// channel joined over wss, and a sale at the console reaching it.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Socket } from "phoenix";
import WebSocket from "ws";
import { randomBytes } from "node:crypto";
import { bin, privateEnv, run as runIn, eventually, WAIT_MS } from "./support/hello_nodes.mjs";
import * as store from "./support/sneakers23.mjs";

const dir = mkdtempSync(join(tmpdir(), "tls-"));
const env = privateEnv(dir);
const sockets = [];
let server;
let log = "";

let storeNode;

after(() => {
  for (const socket of sockets) socket.disconnect();
  if (server && server.exitCode === null) server.kill("SIGKILL");
  if (storeNode && storeNode.exitCode === null) storeNode.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the server on these ports (0: any); resolves `{http, https}`. */
async function startServer(ports = { http: 0, https: 0 }) {
  server = spawn(
    bin,
    [
      "--prod",
      "--port", String(ports.http),
      "--https-port", String(ports.https),
      "--tls-cert", join(dir, "selfsigned.pem"),
      "--tls-key", join(dir, "selfsigned_key.pem"),
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const started = log.length;
  server.stdout.on("data", (d) => (log += d));
  server.stderr.on("data", (d) => (log += d));
  return eventually("the server to listen on http and https", () => {
    if (server.exitCode !== null) assert.fail(`the server exited:\n${log}`);
    const mine = log.slice(started);
    const http = mine.match(/Endpoint at http:\/\/127\.0\.0\.1:(\d+)/);
    const https = mine.match(/Endpoint at https:\/\/127\.0\.0\.1:(\d+)/);
    return http && https && { http: Number(http[1]), https: Number(https[1]) };
  }, WAIT_MS, () => log.slice(-4000));
}

/** A WebSocket for phoenix.js that trusts the test's certificate only. */
function trustingWebSocket(ca) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { ca });
    }
  };
}

/** `get` of `url`; resolves `{status, headers}`. */
function fetchHead(get, url, options = {}) {
  return new Promise((resolve, reject) => {
    get(url, options, (res) => {
      res.resume();
      resolve({ status: res.statusCode, headers: res.headers });
    }).on("error", reject);
  });
}

function reply(push) {
  return new Promise((resolve, reject) => {
    push
      .receive("ok", resolve)
      .receive("error", (e) => reject(new Error(`error ${JSON.stringify(e)}`)))
      .receive("timeout", () => reject(new Error("push timed out")));
  });
}

test("phoenix.js joins and pushes over wss, and reconnects after a restart", { timeout: 4 * WAIT_MS }, async () => {
  await runIn(env, ["gen-cert", "--out", dir]);
  const ca = readFileSync(join(dir, "selfsigned.pem"));
  const ports = await startServer();

  // HTTPS carries HSTS in production; plain HTTP never does.
  const secure = await fetchHead(httpsGet, `https://localhost:${ports.https}/token?user_id=1`, { ca });
  assert.equal(secure.status, 200);
  assert.equal(secure.headers["strict-transport-security"], "max-age=31536000");
  const plain = await fetchHead(httpGet, `http://127.0.0.1:${ports.http}/token?user_id=1`);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers["strict-transport-security"], undefined);

  // Without the certificate, the handshake fails: nothing is trusted by accident.
  await assert.rejects(
    fetchHead(httpsGet, `https://localhost:${ports.https}/token?user_id=1`),
    /self[- ]signed|certificate/i,
  );

  const socket = new Socket(`wss://localhost:${ports.https}/socket`, {
    transport: trustingWebSocket(ca),
    timeout: 5_000,
    reconnectAfterMs: () => 100,
    rejoinAfterMs: () => 100,
  });
  sockets.push(socket);
  const opened = new Promise((resolve) => socket.onOpen(resolve));
  socket.connect();
  await opened;
  const channel = socket.channel("ping", {});
  await reply(channel.join());
  assert.deepEqual(await reply(channel.push("ping", {})), { ping: "pong" });

  // A restart on the same ports: the client reconnects over TLS by itself.
  const stopping = server;
  stopping.kill("SIGTERM");
  await eventually("the server to exit", () => stopping.exitCode !== null || stopping.signalCode !== null);
  await startServer(ports);
  await eventually("phoenix.js to rejoin over wss", () => channel.state === "joined" && socket.isConnected(), WAIT_MS, () => log.slice(-4000));
  assert.deepEqual(await reply(channel.push("ping", { ack_phrase: "again" })), { ping: "again" });
});

test("the store's page and product channels over https and wss", { timeout: 4 * WAIT_MS }, async () => {
  const storeDir = join(dir, "store");
  const storeEnv = { ...store.privateEnv(storeDir), SECRET_KEY_BASE: randomBytes(48).toString("hex") };
  await new Promise((resolve, reject) => {
    const child = spawn(store.bin, ["gen-cert", "--out", storeDir], { env: storeEnv, stdio: "ignore" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`gen-cert exited ${code}`))));
  });
  const ca = readFileSync(join(storeDir, "selfsigned.pem"));
  let storeLog = "";
  storeNode = spawn(
    store.bin,
    [
      "start", "--name", "tls@127.0.0.1",
      "--prod",
      "--data-dir", join(storeDir, "data"),
      "--http-port", "0",
      "--https-port", "0",
      "--tls-cert", join(storeDir, "selfsigned.pem"),
      "--tls-key", join(storeDir, "selfsigned_key.pem"),
    ],
    { env: storeEnv, stdio: ["ignore", "pipe", "pipe"] },
  );
  storeNode.stdout.on("data", (d) => (storeLog += d));
  storeNode.stderr.on("data", (d) => (storeLog += d));
  const https = await eventually("the store to listen on https", () => {
    if (storeNode.exitCode !== null) assert.fail(`the store exited:\n${storeLog}`);
    const found = storeLog.match(/Endpoint at https:\/\/127\.0\.0\.1:(\d+)/);
    return found && Number(found[1]);
  }, WAIT_MS, () => storeLog.slice(-4000));

  const page = await fetchHead(httpsGet, `https://localhost:${https}/`, { ca });
  assert.equal(page.status, 200);
  assert.equal(page.headers["strict-transport-security"], "max-age=31536000");

  // The store's own page joins product channels on /product_socket: a
  // coming-soon product's channel, joined over wss, hears its release made
  // at the console.
  const socket = new Socket(`wss://localhost:${https}/product_socket`, {
    transport: trustingWebSocket(ca),
    timeout: 5_000,
  });
  sockets.push(socket);
  socket.connect();
  const channel = socket.channel("product:1", {});
  await reply(channel.join());
  let change = null;
  channel.on("released", (payload) => (change = payload));
  await store.rpcOk(storeEnv, "tls@127.0.0.1", "inventory.release 1");
  await eventually("the release to reach the channel over wss", () => change !== null);
  assert.match(change.size_html, /size/i);
});
