// The cart of book chapter 9 on the real store page, in jsdom: two tabs of
// one browser (one cookie jar) share one cart, live; a size another shopper
// buys the last unit of (another browser, its own cart) is marked in the cart; the cart survives a reload (kept in
// localStorage, as the book does); checking out empties it in every tab.
//
// The test starts its own store node (SNEAKERS23_BIN, built by run.sh) with a
// private name directory, cookie and database.

import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CookieJar } from "jsdom"
import {
  privateEnv, eventually, rpcOk, NodeProcess, waitForConsole, openStorePage, parseProducts, unitsByItem,
} from "./support/sneakers23.mjs"

const dir = mkdtempSync(join(tmpdir(), "store-cart-"))
const node = `storecart${process.pid}@127.0.0.1`
const env = privateEnv(dir)
const rpc = (command) => rpcOk(env, node, command)
const CART_KEY = "sneakers23.cart"
const cookieJar = new CookieJar()
let server
let url
const tabs = []

async function openTab(options = {}) {
  const tab = await openStorePage(url, { cookieJar, ...options })
  tabs.push(tab)
  return tab
}

const cartId = (tab) => tab.dom.window.cartId
const $ = (tab, selector) => tab.dom.window.document.querySelector(selector)
const cartItems = (tab) =>
  Array.from(tab.dom.window.document.querySelectorAll(".cart__item")).map((li) => Number(li.dataset.itemId))
const units = async (item) => unitsByItem(parseProducts(await rpc("store.products"))).get(item)

// Waits until the node counts `count` joined channels of this browser's cart.
async function cartJoined(tab, count) {
  await eventually(`${count} tab(s) joined the cart`, async () =>
    Number(await rpc(`pubsub.subscribers cart:${cartId(tab)}`)) >= count)
}

before(async () => {
  server = new NodeProcess(env, node, ["--data-dir", join(dir, "data"), "--http-port", "0"])
  url = await server.url()
  await waitForConsole(env, node)
  await openTab()
  await openTab()
  await cartJoined(tabs[0], 2)
})

after(async () => {
  for (const tab of tabs) tab.dom.window.close()
  if (server && server.running) {
    await rpc("node.stop").catch(() => {})
    await server.gone(10000)
  }
  rmSync(dir, { recursive: true, force: true })
})

test("every tab of one browser has the same cart, from an HttpOnly session cookie", () => {
  const [one, two] = tabs
  assert.match(cartId(one), /^[A-Za-z0-9_-]{64}$/)
  assert.equal(cartId(two), cartId(one))
  assert.equal(typeof one.dom.window.cartToken, "string")
  assert.ok(!one.dom.window.document.cookie.includes("_sneakers23_cart"), "page scripts cannot read the cookie")
  const cookies = cookieJar.getCookiesSync(url)
  const cookie = cookies.find((c) => c.key === "_sneakers23_cart")
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === "lax", String(cookies))
})

test("picking a size adds it to the cart, in every tab", async () => {
  const [one, two] = tabs
  $(one, '.size-container__entry[value="3"]').click()
  for (const tab of [one, two]) {
    await eventually("size 7 in the cart", () => cartItems(tab).includes(3))
  }
  const line = $(one, '.cart__item[data-item-id="3"]')
  assert.match(line.textContent, /Air Stride/)
  assert.match(line.textContent, /size 7/)
  assert.ok($(two, '.size-container__entry[value="3"]').classList.contains("size-container__entry--in-cart"))
  assert.equal($(one, ".cart__checkout-button").disabled, false)
  assert.ok(one.dom.window.localStorage.getItem(CART_KEY), "the cart is kept for a reload")
})

test("another shopper buying the last unit marks it sold out in the cart", async () => {
  // Sell size 7 down to its last unit from the console...
  const left = await units(3)
  assert.ok(left > 0)
  for (let i = 1; i < left; i++) await rpc("inventory.sell 3")
  // ...then another browser (its own cookie jar, its own cart) buys it through
  // its page: add the size, check out with the form's token.
  const stranger = await openStorePage(url, { cookieJar: new CookieJar() })
  tabs.push(stranger)
  assert.notEqual(cartId(stranger), cartId(tabs[0]))
  await cartJoined(stranger, 1)
  $(stranger, '.size-container__entry[value="3"]').click()
  await eventually("size 7 in the other shopper's cart", () => cartItems(stranger).includes(3))
  const serialized = $(stranger, ".cart__checkout input[name=serialized]").value
  const bought = await fetch(`${url}/checkout`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `serialized=${encodeURIComponent(serialized)}`,
  })
  assert.equal(bought.status, 200, await bought.text())
  assert.equal(await units(3), 0)
  for (const tab of tabs.slice(0, 2)) {
    await eventually("size 7 sold out in the cart", () => $(tab, '.cart__item--out[data-item-id="3"]') !== null)
    assert.equal($(tab, ".cart__checkout-button").disabled, true, "a cart with a sold-out size cannot check out")
  }
  // Buying the first browser's cart now is refused, naming the size, and sells nothing.
  const mine = $(tabs[0], ".cart__checkout input[name=serialized]").value
  const refused = await fetch(`${url}/checkout`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `serialized=${encodeURIComponent(mine)}`,
  })
  assert.equal(refused.status, 409)
  assert.match(await refused.text(), /Sold out before you checked out: Air Stride size 7/)
})

test("a remove button takes the size out of the cart, in every tab", async () => {
  const [one, two] = tabs
  $(two, '.cart__remove[value="3"]').click()
  for (const tab of [one, two]) {
    await eventually("the cart is empty", () => cartItems(tab).length === 0)
  }
})

test("the cart survives a reload", async () => {
  const [one] = tabs
  $(one, '.size-container__entry[value="5"]').click()
  await eventually("size 8 in the cart", () => cartItems(one).includes(5))
  const saved = one.dom.window.localStorage.getItem(CART_KEY)
  const reloaded = await openTab({ storage: { [CART_KEY]: saved } })
  assert.equal(cartId(reloaded), cartId(one))
  await eventually("the reloaded tab shows the cart", () => cartItems(reloaded).includes(5))
})

test("checking out buys the cart and empties it in every tab", async () => {
  const [one] = tabs
  const before = await units(5)
  const serialized = $(one, ".cart__checkout input[name=serialized]").value
  assert.ok(serialized)
  const page = await fetch(`${url}/checkout?serialized=${encodeURIComponent(serialized)}`, {
    headers: { cookie: cookieJar.getCookieStringSync(url) },
  })
  assert.equal(page.status, 200)
  assert.match(await page.text(), /Place order/)

  const response = await fetch(`${url}/checkout`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: cookieJar.getCookieStringSync(url),
    },
    body: `serialized=${encodeURIComponent(serialized)}`,
  })
  const html = await response.text()
  assert.equal(response.status, 200, html)
  assert.match(html, /Order confirmed/)
  assert.equal(await units(5), before - 1, "one unit sold, durably")
  for (const tab of tabs.filter((t) => cartId(t) === cartId(one))) {
    await eventually("the cart is emptied", () => cartItems(tab).length === 0)
  }
  // The node counted the purchase for its operators.
  assert.match(await rpc("checkout.stats"), /purchases 2, sold out 1, sent twice 0, failed 0, units sold 2/)
})

test("the pages' scripts reported no errors", () => {
  for (const tab of tabs) assert.deepEqual(tab.errors, [])
})
