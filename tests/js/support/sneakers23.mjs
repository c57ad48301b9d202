// What the tests that run Sneakers23 nodes as OS processes share: a private
// cluster environment (its own name directory, cookie directory and cookie, so
// nothing here can reach or clash with a developer's own nodes), nodes started
// and stopped, `sneakers23 rpc` bounded in time, the store page in jsdom
// running its own phoenix.min.js and app.js, and the console's product
// listings parsed. SNEAKERS23_BIN names the binary (tests/js/run.sh sets it).

import assert from "node:assert/strict"
import { spawn, execFile } from "node:child_process"
import { createServer } from "node:net"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { JSDOM, VirtualConsole } from "jsdom"

export const bin = process.env.SNEAKERS23_BIN

// The environment of a private cluster whose files live under `dir`.
export function privateEnv(dir) {
  assert.ok(bin, "SNEAKERS23_BIN must name the sneakers23 binary (tests/js/run.sh sets it)")
  const env = {
    ...process.env,
    NODE_NAME_DIR: join(dir, "names"),
    NODE_COOKIE_DIR: dir,
    RELEASE_COOKIE: randomBytes(12).toString("hex"),
    NO_COLOR: "1",
    RUST_LOG: "info",
  }
  for (const name of ["NODE_COOKIE", "SECRET_KEY_BASE", "DATA_DIR", "PORT", "HOST", "CATALOGUE"]) {
    delete env[name]
  }
  return env
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Polls `check` until it returns something truthy (returned), failing after
// `timeoutMs` with `what` and, if given, `explain()`'s account of the last state.
export async function eventually(what, check, timeoutMs = 15000, explain) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) {
      const detail = explain ? `\n${await explain()}` : ""
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`)
    }
    await sleep(50)
  }
}

// `sneakers23 rpc NODE COMMAND`: resolves with {code, stdout, stderr,
// timedOut}, never rejects. `code` is the exit status (null if killed).
export function rpc(env, node, command, timeoutMs = 20000) {
  return new Promise((resolve) => {
    execFile(
      bin,
      ["rpc", node, "--timeout", String(Math.ceil(timeoutMs / 1000)), command],
      { env, timeout: timeoutMs + 2000, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        const timedOut = !!(err && err.killed)
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0
        resolve({ code, stdout: String(stdout), stderr: String(stderr), timedOut })
      },
    )
  })
}

// `rpc` that must succeed: its output.
export async function rpcOk(env, node, command) {
  const run = await rpc(env, node, command)
  assert.equal(run.code, 0, `rpc ${node} ${command}: exit ${run.code}\n${run.stderr}${run.stdout}`)
  return run.stdout.trim()
}

// A `sneakers23 start --name NAME ARGS…` process, its output collected.
export class NodeProcess {
  constructor(env, name, args) {
    this.name = name
    this.log = ""
    this.proc = spawn(bin, ["start", "--name", name, ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    })
    this.proc.stdout.on("data", (d) => (this.log += d))
    this.proc.stderr.on("data", (d) => (this.log += d))
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })))
  }

  get running() {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  // The URL the web server reports, once it listens.
  async url(timeoutMs = 30000) {
    return eventually(`${this.name} to listen`, () => {
      const m = this.log.match(/Sneakers23Web\.Endpoint at (http:\/\/127\.0\.0\.1:\d+)/)
      if (!m && !this.running) assert.fail(`${this.name} exited:\n${this.log}`)
      return m && m[1]
    }, timeoutMs)
  }

  // Waits (bounded) for the process to be gone; SIGKILL after `timeoutMs`.
  async gone(timeoutMs = 30000) {
    if (!this.running) return
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs)
    await this.exited
    clearTimeout(timer)
  }
}

// Waits until `node`'s console answers.
export function waitForConsole(env, node, timeoutMs = 30000) {
  return eventually(`${node}'s console`, async () => (await rpc(env, node, "node.self", 5000)).code === 0, timeoutMs)
}

// Waits until `node` reaches the store and holds the catalogue in memory
// (`store.status`: "store on …" and not "memory: 0 products").
export function waitForStore(env, node, timeoutMs = 30000) {
  let last = ""
  return eventually(`${node} to reach the store and load it`, async () => {
    const run = await rpc(env, node, "store.status", 5000)
    last = run.stdout + run.stderr
    return run.code === 0 && /^store on /m.test(run.stdout) && !/^memory: 0 products/m.test(run.stdout)
  }, timeoutMs, () => `last store.status on ${node}: ${last}`)
}

// A free loopback port (closed again at once: whoever binds it next races
// nobody but other tests' port-0 binds).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

// The store page at `url` in jsdom, with its scripts run as a browser would,
// after its load event. `errors` collects what the page's scripts report.
//
// `options.cookieJar` shares cookies between pages (two tabs of one browser);
// `options.storage` is the localStorage the page starts with (what a browser
// keeps across a reload), as {key: value}.
export async function openStorePage(url, options = {}) {
  const errors = []
  const virtualConsole = new VirtualConsole()
  const text = (value) => (value !== null && typeof value === "object" ? JSON.stringify(value) : String(value))
  virtualConsole.on("error", (...args) => errors.push(args.map(text).join(" ")))
  virtualConsole.on("jsdomError", (e) => errors.push(String(e && e.message)))
  const dom = await JSDOM.fromURL(url + "/", {
    runScripts: "dangerously",
    resources: "usable",
    pretendToBeVisual: true,
    virtualConsole,
    ...(options.cookieJar ? { cookieJar: options.cookieJar } : {}),
    beforeParse(window) {
      for (const [key, value] of Object.entries(options.storage || {})) {
        window.localStorage.setItem(key, value)
      }
    },
  })
  await new Promise((resolve) => dom.window.addEventListener("load", resolve))
  return { dom, errors, url }
}

// What a page shows: item id → level, for every size on it.
export function pageLevels(page) {
  const levels = new Map()
  for (const el of page.dom.window.document.querySelectorAll(".size-container__entry")) {
    levels.set(Number(el.value), el.dataset.level)
  }
  return levels
}

// The product ids whose sizes a page shows (released, as far as it knows).
export function pageReleased(page) {
  const ids = new Set()
  for (const el of page.dom.window.document.querySelectorAll("[data-sizes-for]")) {
    ids.add(Number(el.dataset.sizesFor))
  }
  return ids
}

// Parses `inventory.products` / `store.products`: product id →
// {released, items: Map item id → units}.
export function parseProducts(text) {
  const products = new Map()
  let current = null
  for (const line of text.split("\n")) {
    const product = line.match(/^\s*(\d+)\s+.*\s(released|coming soon)\s*$/)
    if (product) {
      current = { released: product[2] === "released", items: new Map() }
      products.set(Number(product[1]), current)
      continue
    }
    for (const m of line.matchAll(/#(\d+)=[^\s:]*:(-?\d+)/g)) {
      assert.ok(current, `sizes before a product in:\n${text}`)
      current.items.set(Number(m[1]), Number(m[2]))
    }
  }
  assert.ok(products.size > 0, `no products in:\n${text}`)
  return products
}

// Item id → units, over every product.
export function unitsByItem(products) {
  const units = new Map()
  for (const product of products.values()) {
    for (const [item, count] of product.items) units.set(item, count)
  }
  return units
}

// The transports of the page connections a node's log reports
// ("CONNECTED TO ProductSocket … Transport: :websocket"), in order.
export function productSocketConnections(log) {
  return [...log.matchAll(/CONNECTED TO ProductSocket[^\n]*\n\s*Transport: :(\w+)/g)].map((m) => m[1])
}

// The level a page shows for `count` units (store_app/src/web/level.rs).
export function levelOf(count) {
  if (count <= 0) return "out"
  if (count < 10) return "low"
  if (count < 25) return "medium"
  return "high"
}
