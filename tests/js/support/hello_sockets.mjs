// What the tests of the official phoenix.js client against a running
// hello_sockets server share: where the server is (run.sh starts it and sets
// HELLO_SOCKETS_URL), bounded waits (WAIT_MS: a slow CI only makes a passing
// test slower), connected sockets on either transport, and push replies.

import { after } from "node:test";
import { Socket } from "phoenix";

export const BASE = process.env.HELLO_SOCKETS_URL;
if (!BASE) {
  throw new Error("HELLO_SOCKETS_URL is not set: run tests/js/run.sh");
}
export const WS_BASE = BASE.replace(/^http/, "ws");
export const WAIT_MS = Number(process.env.WAIT_MS || 15_000);
export const TEST_OPTIONS = { timeout: 4 * WAIT_MS };

// Every socket made here is disconnected when the test file is done, so a
// failed test leaves nothing polling or reconnecting.
const sockets = [];
after(() => {
  for (const socket of sockets) socket.disconnect();
});

/** `promise`, or a rejection naming `what` after `ms`. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `predicate()` holds, checking every 20 ms. */
export function until(predicate, what) {
  return within(
    new Promise((resolve) => {
      const check = () => (predicate() ? resolve() : setTimeout(check, 20));
      check();
    }),
    what,
  );
}

/** A phoenix.js Socket on `path` over `transport`; not yet connected. */
export function newSocket(path, transport, params = {}, options = {}) {
  const socket = new Socket(`${WS_BASE}${path}`, {
    transport,
    params,
    timeout: WAIT_MS,
    ...options,
  });
  sockets.push(socket);
  return socket;
}

/** A phoenix.js Socket on `path` over `transport`, connected. */
export async function connect(path, transport, params = {}, options = {}) {
  const socket = newSocket(path, transport, params, options);
  const opened = new Promise((resolve) => socket.onOpen(resolve));
  socket.connect();
  await within(opened, `connecting to ${path}`);
  return socket;
}

/** The push's "ok" response; rejects on "error" or "timeout". */
export function reply(push, what) {
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
