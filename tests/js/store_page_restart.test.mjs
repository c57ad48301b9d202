// The store page across a restart of its web node (book chapter 5, "keep
// critical data alive"). Broadcasts reach a page at most once: sales made
// while its node is down are missed. phoenix.js reconnects (with its back-off)
// and rejoins, and the reply to every join carries the product's current
// state, which app.js applies — so the page catches up, then keeps hearing
// `stock_change` live.
//
// Two nodes of a private cluster: `owner` holds the database (no web server),
// so sales can be made while the web node is down; `web` serves the page,
// first on port 0, then again on the port it got. The page runs in jsdom with
// its own phoenix.min.js and app.js. The web node goes down twice: killed
// (SIGKILL: the connection just drops), then stopped cleanly (`sneakers23
// stop`: the node drains its connections so that phoenix.js reconnects and
// rejoins).

import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  bin,
  privateEnv,
  eventually,
  rpc,
  rpcOk,
  NodeProcess,
  waitForConsole,
  waitForStore,
  openStorePage,
  pageLevels,
  parseProducts,
  unitsByItem,
  levelOf,
  productSocketConnections,
} from "./support/sneakers23.mjs"

const dir = mkdtempSync(join(tmpdir(), "store-restart-"))
const env = privateEnv(dir)
const owner = `owner${process.pid}@127.0.0.1`
const webName = `web${process.pid}@127.0.0.1`
// Reconnect back-off (up to 5 s between tries), then a rejoin refused while
// the restarted node reloads (rejoins after 1, 2, 5 s): well within this.
const CATCH_UP_MS = 60000
const TEST_OPTIONS = { timeout: 180000 }

let ownerNode
let web
let port
let page

async function startWeb(httpPort) {
  const node = new NodeProcess(env, webName, ["--http-port", String(httpPort)])
  const url = await node.url()
  await waitForConsole(env, webName)
  // What scripts/rolling_restart.sh does after a restart: back into the
  // cluster, then wait until the store is reachable and memory loaded.
  await rpcOk(env, webName, `node.connect ${owner}`)
  await waitForStore(env, webName)
  return { node, url }
}

// The store's units, item id → count.
async function storeUnits() {
  return unitsByItem(parseProducts(await rpcOk(env, owner, "store.products")))
}

// An item the page shows whose level changes within the fewest sales, not in
// `exclude`: {item, count, sales, level after}.
async function itemToMove(exclude) {
  const units = await storeUnits()
  let best = null
  for (const [item] of pageLevels(page)) {
    const count = units.get(item)
    if (!count || exclude.has(item)) continue
    // Down to the top of the level below: 24 (medium), 9 (low), 0 (out).
    const target = count >= 25 ? 24 : count >= 10 ? 9 : 0
    const sales = count - target
    if (!best || sales < best.sales) best = { item, count, sales, after: levelOf(target) }
  }
  assert.ok(best, "the page shows an item left in stock")
  return best
}

async function sell(item, times) {
  for (let i = 0; i < times; i++) {
    assert.match(await rpcOk(env, owner, `inventory.sell ${item}`), new RegExp(`^sold item ${item}:`))
  }
}

function levelShown(item) {
  return pageLevels(page).get(item)
}

before(async () => {
  ownerNode = new NodeProcess(env, owner, ["--data-dir", join(dir, "data"), "--no-http"])
  await waitForConsole(env, owner)
  const first = await startWeb(0)
  web = first.node
  port = Number(new URL(first.url).port)
  assert.match(await rpcOk(env, owner, "inventory.release 2"), /released 2/)
  // The page is rendered from web's memory: wait for the release there.
  await eventually("the release in web's memory", async () =>
    parseProducts(await rpcOk(env, webName, "inventory.products")).get(2).released)
  page = await openStorePage(first.url)
  for (const id of [1, 2, 3, 4]) {
    await eventually(`product:${id} joined`, async () =>
      Number(await rpcOk(env, webName, `pubsub.subscribers product:${id}`)) >= 1)
  }
})

after(async () => {
  if (page) page.dom.window.close()
  for (const node of [web, ownerNode]) {
    if (node && node.running) {
      await rpc(env, node.name, "node.stop", 5000)
      await node.gone(10000)
    }
  }
  rmSync(dir, { recursive: true, force: true })
})

// Takes the web node down with `stop`, sells while it is down, starts it on
// the same port, and checks the page catches up and stays live.
async function restartCatchesUp(stop) {
  const moved = new Set()
  const missed = await itemToMove(moved)
  moved.add(missed.item)
  assert.equal(levelShown(missed.item), levelOf(missed.count), "the page shows the store's level before")

  await stop()
  await web.gone()
  await sell(missed.item, missed.sales)
  // Nobody could tell the page: it still shows the level from before.
  assert.equal(levelShown(missed.item), levelOf(missed.count))

  web = (await startWeb(port)).node
  // phoenix.js reconnects with its back-off; a WebSocket attempt that failed
  // while the node was down makes it fall back to long poll.
  await eventually("the page to connect to the restarted node", () => productSocketConnections(web.log).length > 0, CATCH_UP_MS)
  await eventually(
    `the page to show item ${missed.item} ${missed.after} after rejoining (sold ${missed.sales} while its node was down)`,
    () => levelShown(missed.item) === missed.after,
    CATCH_UP_MS,
    () => `page shows ${levelShown(missed.item)}; web's log:\n${web.log.slice(-3000)}`,
  )

  // And it is live again: a change now arrives as stock_change.
  const live = await itemToMove(moved)
  await sell(live.item, live.sales)
  await eventually(
    `stock_change for item ${live.item} (${live.after}) on the rejoined page`,
    () => levelShown(live.item) === live.after,
    15000,
  )
  const units = await storeUnits()
  for (const [item, level] of pageLevels(page)) {
    assert.equal(level, levelOf(units.get(item)), `item ${item}: ${units.get(item)} units`)
  }
}

test("after its web node is killed and started again on the same port, the page catches up and stays live", TEST_OPTIONS, async () => {
  await restartCatchesUp(async () => web.proc.kill("SIGKILL"))
})

// Needs the node to drain on stop (close 1012, no phx_close): before that, a
// clean stop closes every channel and phoenix.js does not rejoin them.
test("after a clean stop (sneakers23 stop) and a start on the same port, the page catches up and stays live", TEST_OPTIONS, async () => {
  await restartCatchesUp(
    () =>
      new Promise((resolve, reject) => {
        execFile(bin, ["stop", webName, "--timeout", "30"], { env }, (err, stdout, stderr) =>
          err ? reject(new Error(`sneakers23 stop ${webName}: ${stderr || err.message}`)) : resolve())
      }),
  )
})

test("the page's scripts reported nothing but its node being away or reloading", () => {
  const expected = [
    /^Error: connect ECONNREFUSED /, // reconnecting while the node is down
    /^Error: (socket hang up|read ECONNRESET)$/, // a request cut by the node stopping
    /^Channel join failed \d+ \{"reason":"product \d+ is not in this node's memory \(yet\)"\}$/, // rejoined before the reload
  ]
  const unexpected = page.errors.filter((e) => !expected.some((pattern) => pattern.test(e)))
  assert.deepEqual(unexpected, [])
})
