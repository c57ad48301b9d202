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
import { spawn, execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { JSDOM, VirtualConsole } from "jsdom"

const bin = process.env.SNEAKERS23_BIN
const dir = mkdtempSync(join(tmpdir(), "store-page-"))
const node = `storepage${process.pid}@127.0.0.1`
const env = {
  ...process.env,
  NODE_NAME_DIR: join(dir, "names"),
  NODE_COOKIE_DIR: dir,
  RELEASE_COOKIE: randomBytes(12).toString("hex"),
  NO_COLOR: "1",
  RUST_LOG: "info",
}
let server
let log = ""
let baseUrl
let dom
const browserErrors = []

function rpc(command) {
  return new Promise((resolve, reject) => {
    execFile(bin, ["rpc", node, command], { env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rpc ${command}: ${stderr || err.message}`))
      else resolve(stdout.trim())
    })
  })
}

async function eventually(what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

before(async () => {
  assert.ok(bin, "SNEAKERS23_BIN must name the sneakers23 binary (tests/js/run.sh sets it)")
  server = spawn(
    bin,
    ["start", "--name", node, "--data-dir", join(dir, "data"), "--http-port", "0"],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  )
  server.stdout.on("data", (d) => (log += d))
  server.stderr.on("data", (d) => (log += d))
  baseUrl = await eventually("the store node to listen", () => {
    const m = log.match(/Sneakers23Web\.Endpoint at (http:\/\/127\.0\.0\.1:\d+)/)
    if (server.exitCode !== null) assert.fail(`sneakers23 exited:\n${log}`)
    return m && m[1]
  }, 30000)
  await eventually("the console to answer", () => rpc("node.self").then(() => true, () => false), 30000)

  const virtualConsole = new VirtualConsole()
  virtualConsole.on("error", (...args) => browserErrors.push(args.join(" ")))
  virtualConsole.on("jsdomError", (e) => browserErrors.push(String(e && e.message)))
  dom = await JSDOM.fromURL(baseUrl + "/", {
    runScripts: "dangerously",
    resources: "usable",
    pretendToBeVisual: true,
    virtualConsole,
  })
  await new Promise((resolve) => dom.window.addEventListener("load", resolve))
  // Every product's channel is joined once the server counts its subscriber.
  for (const id of [1, 2, 3, 4]) {
    await eventually(`product:${id} joined`, async () =>
      Number(await rpc(`pubsub.subscribers product:${id}`)) >= 1)
  }
})

after(async () => {
  if (dom) dom.window.close()
  if (server && server.exitCode === null) {
    await rpc("node.stop").catch(() => {})
    await eventually("the node to stop", () => server.exitCode !== null, 10000).catch(() => server.kill("SIGKILL"))
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
  assert.deepEqual(browserErrors, [])
})
