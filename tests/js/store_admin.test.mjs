// The admin dashboard of book chapter 10 in jsdom, across two nodes: the
// admin's page on `app` (behind basic auth), a shopper's store page on
// `app2`. The shopper opens the page and picks a size: the admin sees a
// shopper online on app2 and the size held in one cart, live; the shopper
// closes the tab: both go back to zero. Without credentials the page is
// refused.
//
// The test starts its own two store nodes (SNEAKERS23_BIN, built by run.sh)
// with a private name directory, cookie, secret and database, and a short
// tracker broadcast period.

import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { JSDOM, VirtualConsole } from "jsdom"
import {
  privateEnv, eventually, rpcOk, NodeProcess, waitForConsole, waitForStore, openStorePage,
} from "./support/sneakers23.mjs"

const dir = mkdtempSync(join(tmpdir(), "store-admin-"))
const app = `admin${process.pid}@127.0.0.1`
const app2 = `admintwo${process.pid}@127.0.0.1`
// The password in a file, as scripts/demo.sh gives it to the nodes.
writeFileSync(join(dir, "admin_password"), "open sesame\n", { mode: 0o600 })
const env = {
  ...privateEnv(dir),
  SECRET_KEY_BASE: randomBytes(48).toString("base64url"),
  ADMIN_USER: "ops",
  ADMIN_PASSWORD_FILE: join(dir, "admin_password"),
  TRACKER_BROADCAST_PERIOD_MS: "100",
}
delete env.ADMIN_PASSWORD
const servers = []
const windows = []
let adminUrl
let shopUrl
let admin

// The admin page in jsdom: fetched with basic auth (jsdom sends none), then
// run at its own URL so that its scripts and socket reach the node.
async function openAdminPage(url) {
  const response = await fetch(`${url}/admin`, {
    headers: { authorization: `Basic ${Buffer.from("ops:open sesame").toString("base64")}` },
  })
  assert.equal(response.status, 200)
  const errors = []
  const virtualConsole = new VirtualConsole()
  virtualConsole.on("error", (...args) => errors.push(args.map(String).join(" ")))
  virtualConsole.on("jsdomError", (e) => errors.push(String(e && e.message)))
  const dom = new JSDOM(await response.text(), {
    url: `${url}/admin`,
    runScripts: "dangerously",
    resources: "usable",
    pretendToBeVisual: true,
    virtualConsole,
  })
  await new Promise((resolve) => dom.window.addEventListener("load", resolve))
  windows.push(dom.window)
  return { dom, errors }
}

const $ = (page, selector) => page.dom.window.document.querySelector(selector)
const count = (page, item) => Number($(page, `[data-count-for="${item}"]`).textContent)
const nodeRow = (page, node) => $(page, `[data-node="${node}"]`)

before(async () => {
  const owner = new NodeProcess(env, app, ["--data-dir", join(dir, "data"), "--http-port", "0"])
  servers.push(owner)
  adminUrl = await owner.url()
  const second = new NodeProcess(env, app2, ["--http-port", "0"])
  servers.push(second)
  shopUrl = await second.url()
  await waitForConsole(env, app)
  await waitForConsole(env, app2)
  await rpcOk(env, app2, `node.connect ${app}`)
  await waitForStore(env, app2)
  admin = await openAdminPage(adminUrl)
  await eventually("the admin page to join", () => $(admin, ".admin__status").textContent === "Live.")
})

after(async () => {
  for (const window of windows) window.close()
  for (const server of servers) {
    if (server.running) {
      await rpcOk(env, server.name, "node.stop").catch(() => {})
      await server.gone(10000)
    }
  }
  rmSync(dir, { recursive: true, force: true })
})

test("the dashboard is refused without the admin's credentials", async () => {
  assert.equal((await fetch(`${adminUrl}/admin`)).status, 401)
  const wrong = await fetch(`${adminUrl}/admin`, {
    headers: { authorization: `Basic ${Buffer.from("ops:guess").toString("base64")}` },
  })
  assert.equal(wrong.status, 401)
})

test("a cart on another node shows on the dashboard, live, and leaves with its tab", async () => {
  assert.equal(count(admin, 5), 0)
  const shop = await openStorePage(shopUrl)
  windows.push(shop.dom.window)
  await eventually("the shopper to be online on app2", () =>
    nodeRow(admin, app2) && nodeRow(admin, app2).textContent.includes("1"))
  assert.equal($(admin, "[data-total]").textContent, "1")

  shop.dom.window.document.querySelector('.size-container__entry[value="5"]').click()
  await eventually("size 8 held in one cart", () => count(admin, 5) === 1)
  assert.match(await rpcOk(env, app, "admin.carts"), new RegExp(`1 cart\\(s\\) open; ${app2}: 1`))

  shop.dom.window.close()
  await eventually("the shopper to leave the dashboard", () =>
    count(admin, 5) === 0 && $(admin, "[data-total]").textContent === "0")
  assert.equal(nodeRow(admin, app2), null)
  assert.deepEqual(admin.errors, [])
})
