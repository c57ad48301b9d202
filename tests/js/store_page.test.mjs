// The Sneakers23 store page in a DOM (jsdom): the page as the server renders
// it, its own scripts (the official phoenix.min.js from the pinned npm package,
// then app.js) run as a browser would run them, and the live updates of book
// chapter 7: a release from the console replaces "coming soon" with the sizes,
// and a sale that empties a size marks it sold out — without a reload.
//
// The test starts its own named store node (SNEAKERS23_BIN, built by run.sh)
// with a private name directory, cookie and database, and drives it with
// `sneakers23 rpc`, as a person would from the back node's console.

import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { privateEnv, eventually, rpcOk, NodeProcess, waitForConsole, openStorePage } from "./support/sneakers23.mjs"

const dir = mkdtempSync(join(tmpdir(), "store-page-"))
const node = `storepage${process.pid}@127.0.0.1`
const env = privateEnv(dir)
const rpc = (command) => rpcOk(env, node, command)
let server
let page
let dom

before(async () => {
  server = new NodeProcess(env, node, ["--data-dir", join(dir, "data"), "--http-port", "0"])
  const url = await server.url()
  await waitForConsole(env, node)
  page = await openStorePage(url)
  dom = page.dom
  // Every product's channel is joined once the server counts its subscriber.
  for (const id of [1, 2, 3, 4]) {
    await eventually(`product:${id} joined`, async () =>
      Number(await rpc(`pubsub.subscribers product:${id}`)) >= 1)
  }
})

after(async () => {
  if (dom) dom.window.close()
  if (server && server.running) {
    await rpc("node.stop").catch(() => {})
    await server.gone(10000)
  }
  rmSync(dir, { recursive: true, force: true })
})

const $ = (selector) => dom.window.document.querySelector(selector)
const $$ = (selector) => dom.window.document.querySelectorAll(selector)

test("the page is rendered on the server with every product", () => {
  assert.equal($$("[data-product-id]").length, 4)
  // The demo catalogue releases product 1 only.
  assert.equal($$('[data-product-id="1"] .size-container__entry').length, 10)
  assert.ok($(".product-soon-2"), "product 2 is coming soon")
  assert.equal(typeof dom.window.Phoenix.Socket, "function", "phoenix.min.js loaded from the npm package")
})

test("a release from the console replaces coming soon with the sizes, live", async () => {
  assert.match(await rpc("inventory.release 2"), /released 2/)
  await eventually("the sizes of product 2", () =>
    $$('[data-product-id="2"] .size-container__entry').length === 10 && !$(".product-soon-2"))
  const first = $('[data-product-id="2"] .size-container__entry')
  assert.ok(first.dataset.level, "each size shows a level")
})

test("selling the last unit of a size marks it sold out, live", async () => {
  // In the demo catalogue item 4 (product 1, size 7.5) has one unit: level low.
  const entry = $('.size-container__entry[value="4"]')
  assert.equal(entry.dataset.level, "low")
  assert.equal(entry.disabled, false)
  assert.match(await rpc("inventory.sell 4"), /1 -> 0 left/)
  await eventually("size 7.5 sold out", () => entry.dataset.level === "out" && entry.disabled)
  assert.ok(entry.classList.contains("size-container__entry--level-out"))
  assert.equal(entry.querySelector(".size-container__level").textContent, "sold out")
})

test("the page's scripts reported no errors", () => {
  assert.deepEqual(page.errors, [])
})
