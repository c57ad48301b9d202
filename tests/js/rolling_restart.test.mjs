// A rolling restart of the Sneakers23 demo under sales, as a deploy would
// happen in real life: scripts/demo.sh runs a private cluster (app@ owns the
// database and serves a page, app2@ serves a page, back@ has no web server)
// on free ports; a store page is open in jsdom on each web node; a seller
// sells random released sizes through `sneakers23 rpc` on random nodes while
// scripts/rolling_restart.sh restarts app2, back, then app.
//
// Afterwards:
// - the store holds exactly the initial stock minus the acknowledged sales
//   (a sale whose outcome is unknown — timed out, connection lost, the store's
//   node gone mid-call — may or may not have happened: the only slack);
// - no count is negative;
// - every node's memory holds what the store holds;
// - both pages show, for every size, the level of the store's count (they
//   missed the broadcasts made while their node was down, and caught up from
//   the replies to their rejoins);
// - SIGTERM to demo.sh stops every node, by name, whatever pid the restart
//   gave it.

import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, readFileSync, statSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"
import {
  bin,
  privateEnv,
  eventually,
  sleep,
  rpc,
  rpcOk,
  freePort,
  openStorePage,
  pageLevels,
  pageReleased,
  parseProducts,
  unitsByItem,
  levelOf,
  productSocketConnections,
} from "./support/sneakers23.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const dir = mkdtempSync(join(tmpdir(), "rolling-restart-"))
const logDir = join(dir, "log")
const NODES = { app: "app@127.0.0.1", app2: "app2@127.0.0.1", back: "back@127.0.0.1" }
const PRODUCTS = [1, 2, 3, 4]
const TEST_OPTIONS = { timeout: 170000 }

let env
let demo
let demoOutput = ""
const pages = []

function pidOf(short) {
  const file = join(logDir, `${short}.pid`)
  return existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : null
}

// A node's log since its last start (the scripts mark each start with a
// "--- <time> start" line).
function logSinceLastStart(short) {
  const log = readFileSync(join(logDir, `${short}.log`), "utf8")
  return log.slice(log.lastIndexOf("\n--- ") + 1)
}

function alive(pid) {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

// The store's units, item id → count, read from the store itself.
async function storeUnits(node = NODES.back) {
  return unitsByItem(parseProducts(await rpcOk(env, node, "store.products")))
}

// What a sale's `rpc` says happened: "acked" (the store sold it), "refused"
// (certainly not sold: no store known, none left, the node not running), or
// "unknown" (it may or may not have been sold).
function outcome(run, item) {
  if (run.code === 0) {
    return new RegExp(`^sold item ${item}: \\d+ -> \\d+ left$`).test(run.stdout.trim()) ? "acked" : "unknown"
  }
  if (run.code === 1) {
    // Never sent: no node holds the store (yet), or its proxy is not here yet.
    if (/no store is reachable \((no connected node holds|\S+ holds the store but its server is not reachable yet)/.test(run.stderr)) {
      return "refused"
    }
    if (new RegExp(`item ${item} is out of stock`).test(run.stderr)) return "refused"
    return "unknown"
  }
  // The control socket was not there: the command never reached the node.
  if (run.code === 2 && / is not running \(no control socket/.test(run.stderr)) return "refused"
  return "unknown"
}

before(async () => {
  assert.ok(bin, "SNEAKERS23_BIN must name the sneakers23 binary (tests/js/run.sh sets it)")
  const port = await freePort()
  let port2 = await freePort()
  while (port2 === port) port2 = await freePort()
  env = {
    ...privateEnv(dir),
    LOG_DIR: logDir,
    DATA_DIR: join(dir, "data"),
    PORT: String(port),
    PORT2: String(port2),
    SNEAKERS23_BIN: bin,
  }
  demo = spawn(join(root, "scripts", "demo.sh"), [], { env, cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  demo.stdout.on("data", (d) => (demoOutput += d))
  demo.stderr.on("data", (d) => (demoOutput += d))
  await eventually("scripts/demo.sh to start the cluster", () => {
    if (demo.exitCode !== null) assert.fail(`demo.sh exited (${demo.exitCode}):\n${demoOutput}`)
    return demoOutput.includes("Ctrl-C stops the three nodes.")
  }, 120000, () => demoOutput)

  for (const id of [2, 3, 4]) {
    assert.match(await rpcOk(env, NODES.back, `inventory.release ${id}`), new RegExp(`^released ${id} `))
  }
  for (const node of Object.values(NODES)) {
    await eventually(`every product released in ${node}'s memory`, async () => {
      const products = parseProducts(await rpcOk(env, node, "inventory.products"))
      return PRODUCTS.every((id) => products.get(id).released)
    })
  }
  for (const [short, p] of [["app", port], ["app2", port2]]) {
    const page = await openStorePage(`http://127.0.0.1:${p}`)
    page.node = NODES[short]
    page.short = short
    pages.push(page)
    for (const id of PRODUCTS) {
      await eventually(`product:${id} joined on ${page.node}`, async () =>
        Number(await rpcOk(env, page.node, `pubsub.subscribers product:${id}`)) >= 1)
    }
    assert.deepEqual([...pageReleased(page)].sort(), PRODUCTS, `${page.node}'s page shows every product's sizes`)
  }
})

after(async () => {
  for (const page of pages) page.dom.window.close()
  if (demo && demo.exitCode === null) {
    demo.kill("SIGTERM")
    await eventually("demo.sh to stop", () => demo.exitCode !== null, 60000).catch(() => demo.kill("SIGKILL"))
  }
  // Whatever is left (a failed run): no node may outlive the test.
  for (const short of Object.keys(NODES)) {
    const pid = pidOf(short)
    if (alive(pid)) process.kill(pid, "SIGKILL")
  }
  rmSync(dir, { recursive: true, force: true })
})

test("demo.sh records how it started each node and shares one secret_key_base", () => {
  const secret = join(logDir, "secret_key_base")
  assert.equal(statSync(secret).mode & 0o777, 0o600)
  assert.ok(readFileSync(secret, "utf8").trim().length >= 64)
  for (const [short, node] of Object.entries(NODES)) {
    assert.ok(alive(pidOf(short)), `${short}.pid names a live process`)
    const record = readFileSync(join(logDir, `${short}.cmd`), "utf8").split("\0")
    assert.ok(record.includes(bin) && record.includes(node), `${short}.cmd: ${record.join(" ")}`)
    assert.ok(record.includes(`SECRET_KEY_BASE_FILE=${secret}`), `${short}.cmd: ${record.join(" ")}`)
    assert.ok(!record.some((e) => e.includes(env.RELEASE_COOKIE)), "the cookie is never written down")
  }
})

test("sales during a rolling restart: the store, every node's memory and both pages agree afterwards", TEST_OPTIONS, async (t) => {
  const initial = await storeUnits()
  const released = [...initial.keys()]
  const acked = new Map()
  const unknown = new Map()
  const tally = { acked: 0, refused: 0, unknown: 0 }
  const unknownRuns = []
  const bump = (map, item) => map.set(item, (map.get(item) || 0) + 1)
  const pidsBefore = Object.keys(NODES).map(pidOf)

  let selling = true
  const seller = (async () => {
    while (selling) {
      // A node that runs now (the restart replaces them one at a time).
      const running = Object.keys(NODES).filter((short) => alive(pidOf(short)))
      const nodes = (running.length > 0 ? running : Object.keys(NODES)).map((short) => NODES[short])
      // A size that, as far as acknowledged sales go, has units left.
      const left = released.filter((item) => initial.get(item) - (acked.get(item) || 0) > 0)
      if (left.length === 0) break
      const item = left[Math.floor(Math.random() * left.length)]
      const node = nodes[Math.floor(Math.random() * nodes.length)]
      const run = await rpc(env, node, `inventory.sell ${item}`, 10000)
      const result = outcome(run, item)
      tally[result] += 1
      if (result === "acked") bump(acked, item)
      if (result === "unknown") {
        bump(unknown, item)
        unknownRuns.push({ node, item, ...run })
      }
      await sleep(15)
    }
  })()

  // Some sales first, so that every node has pages' news to miss.
  await eventually("a few acknowledged sales", () => tally.acked >= 10, 30000)
  const restart = spawn(join(root, "scripts", "rolling_restart.sh"), [], { env, cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  let restartOutput = ""
  restart.stdout.on("data", (d) => (restartOutput += d))
  restart.stderr.on("data", (d) => (restartOutput += d))
  const timer = setTimeout(() => restart.kill("SIGKILL"), 120000)
  const code = await new Promise((resolve) => restart.on("exit", (c) => resolve(c)))
  clearTimeout(timer)
  // And some after, on the restarted cluster.
  const ackedAtEnd = tally.acked
  await eventually("sales acknowledged after the restart", () => tally.acked >= ackedAtEnd + 10, 30000)
  selling = false
  await seller
  t.diagnostic(`sales: ${JSON.stringify(tally)}; rolling_restart.sh:\n${restartOutput}`)
  assert.equal(code, 0, `rolling_restart.sh failed:\n${restartOutput}`)
  const pidsAfter = Object.keys(NODES).map(pidOf)
  for (let i = 0; i < pidsAfter.length; i++) {
    assert.notEqual(pidsAfter[i], pidsBefore[i], "every node was restarted")
    assert.ok(alive(pidsAfter[i]), "and runs")
  }

  // The store: the initial stock minus what was acknowledged, give or take
  // only the sales whose outcome is unknown.
  const final = await storeUnits(NODES.app2)
  const problems = []
  for (const [item, start] of initial) {
    const count = final.get(item)
    const sold = acked.get(item) || 0
    const maybe = unknown.get(item) || 0
    if (!(count >= 0)) problems.push(`item ${item}: ${count} units`)
    if (count > start - sold || count < start - sold - maybe) {
      problems.push(`item ${item}: ${count} units, expected ${start} - ${sold} acknowledged (- up to ${maybe} unknown)`)
    }
  }
  assert.deepEqual(problems, [], `unknown outcomes: ${JSON.stringify(unknownRuns, null, 1)}`)

  // Every node's memory holds what the store holds.
  for (const node of Object.values(NODES)) {
    let memory
    await eventually(`${node}'s memory to hold the store's stock`, async () => {
      memory = unitsByItem(parseProducts(await rpcOk(env, node, "inventory.products")))
      return [...final].every(([item, count]) => memory.get(item) === count)
    }, 30000, () => [...final].filter(([item, count]) => memory.get(item) !== count)
      .map(([item, count]) => `item ${item}: memory ${memory.get(item)}, store ${count}`).join("\n"))
  }

  // Both pages show the store's levels: rejoining (after phoenix.js's
  // reconnect back-off, and a refused rejoin while the node reloaded) brought
  // them what they missed.
  for (const page of pages) {
    await eventually(`${page.node}'s page to connect to its restarted node`, () => productSocketConnections(logSinceLastStart(page.short)).length > 0, 60000)
    await eventually(`${page.node}'s page to show the store's level for every size`, () => {
      const shown = pageLevels(page)
      return [...final].every(([item, count]) => shown.get(item) === levelOf(count))
    }, 60000, () => {
      const shown = pageLevels(page)
      return [...final].filter(([item, count]) => shown.get(item) !== levelOf(count))
        .map(([item, count]) => `item ${item}: page ${shown.get(item)}, store ${count} (${levelOf(count)})`).join("\n")
    })
  }
  assert.ok(tally.acked >= 20, `enough sales to mean something: ${JSON.stringify(tally)}`)
})

test("SIGTERM to demo.sh stops every node by name, whatever pid the restart gave it", TEST_OPTIONS, async () => {
  const pids = Object.keys(NODES).map(pidOf)
  assert.ok(pids.every(alive), `the nodes run: ${pids}`)
  demo.kill("SIGTERM")
  await eventually("demo.sh to exit", () => demo.exitCode !== null, 60000, () => demoOutput)
  assert.equal(demo.exitCode, 0, demoOutput)
  for (const [short, node] of Object.entries(NODES)) {
    assert.match(demoOutput, new RegExp(`stopped ${node.replace(/\./g, "\\.")}`))
    assert.ok(!existsSync(join(logDir, `${short}.pid`)), `${short}.pid removed`)
  }
  await eventually("every node process to be gone", () => pids.every((pid) => !alive(pid)), 10000)
})

test("the pages' scripts reported nothing but their node being away or reloading", () => {
  const expected = [
    /^Error: connect ECONNREFUSED /, // reconnecting while the node is down
    /^Error: (socket hang up|read ECONNRESET)$/, // a request cut by the node stopping
    /^Channel join failed \d+ \{"reason":"product \d+ is not in this node's memory \(yet\)"\}$/,
  ]
  for (const page of pages) {
    const unexpected = page.errors.filter((e) => !expected.some((pattern) => pattern.test(e)))
    assert.deepEqual(unexpected, [], page.node)
  }
})
