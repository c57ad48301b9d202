// The store page's live updates (the book's assets/js/app.js, socket.js and
// dom.js in one file: plain browser JavaScript, no bundler). phoenix.min.js,
// loaded before this file, provides the global `Phoenix`.
//
// Every product on the page (`[data-product-id]`) joins `product:<id>`:
// - `released {size_html}`: the product's "coming soon" block is replaced by
//   its size selector, rendered by the server.
// - `stock_change {product_id, item_id, level}`: that size's level is updated
//   (class, data-level, label; sold-out sizes are disabled).
// - the reply to every join, `{released, size_html?, items: [{item_id, level}]}`:
//   the product as the server's memory holds it now. Broadcasts are delivered
//   at most once, so a page whose connection dropped (its server restarting)
//   missed some; phoenix.js rejoins after reconnecting, calling the same
//   `receive("ok")` callback, and the page catches up from the reply.
//
// The cart (book ch9): the page joins `cart:<window.cartId>` on the same
// socket, which proves the id with `window.cartToken` at connect. The join
// sends the cart kept in localStorage (`serialized`, a signed token); the
// channel pushes `cart` {items, serialized} after the join, after a change in
// another tab, when an item in the cart sells out, and after a checkout
// empties it. Picking a size pushes `add_item`, a remove button
// `remove_item`; the replies carry the new cart.
//
// The connection (book ch8's manual tests ask the page to say it): the
// header's `.connection` line shows `connecting`, `connected`, `reconnecting`
// (phoenix.js retries with back-off after a drop) or `offline` (the browser
// reports no network).
(function () {
  "use strict"

  // The words under each size; the server's `StockLevel::label` uses the same.
  var LEVEL_LABELS = {
    out: "sold out",
    low: "few left",
    medium: "in stock",
    high: "plenty"
  }
  var LEVEL_CLASS_PREFIX = "size-container__entry--level-"

  var dom = {
    // The ids of every product on the page, as strings.
    getProductIds: function () {
      var els = document.querySelectorAll("[data-product-id]")
      return Array.prototype.map.call(els, function (el) {
        return el.dataset.productId
      })
    },

    // Replaces a product's "coming soon" block with its size selector.
    replaceProductComingSoon: function (productId, sizeHtml) {
      var els = document.querySelectorAll(".product-soon-" + productId)
      Array.prototype.forEach.call(els, function (el) {
        var fragment = document.createRange().createContextualFragment(sizeHtml)
        el.replaceWith(fragment)
      })
    },

    // Shows `level` on every size entry of item `itemId`.
    updateItemLevel: function (itemId, level) {
      if (!Object.prototype.hasOwnProperty.call(LEVEL_LABELS, level)) {
        console.error("unknown stock level", level)
        return
      }
      var els = document.querySelectorAll(".size-container__entry")
      Array.prototype.forEach.call(els, function (el) {
        if (el.value !== String(itemId)) return
        Object.keys(LEVEL_LABELS).forEach(function (known) {
          el.classList.remove(LEVEL_CLASS_PREFIX + known)
        })
        el.classList.add(LEVEL_CLASS_PREFIX + level)
        el.dataset.level = level
        el.disabled = level === "out"
        var label = el.querySelector(".size-container__level")
        if (label) label.textContent = LEVEL_LABELS[level]
      })
    }
  }

  // Applies a join reply: sizes instead of "coming soon" if the product was
  // released, then every size's level. A reply without state (the server could
  // not read its memory) changes nothing.
  function applyProductState(productId, state) {
    if (!state) return
    if (state.released && typeof state.size_html === "string") {
      dom.replaceProductComingSoon(productId, state.size_html)
    }
    if (Array.isArray(state.items)) {
      state.items.forEach(function (item) {
        dom.updateItemLevel(item.item_id, item.level)
      })
    }
  }

  function setupProductChannel(socket, connection, productId) {
    var productChannel = socket.channel("product:" + productId, {})
    connection.watch(productChannel)
    productChannel.join()
      .receive("ok", function (state) {
        applyProductState(productId, state)
        connection.joined(productChannel)
      })
      .receive("error", function (reason) {
        console.error("Channel join failed", productId, reason)
      })
    productChannel.on("released", function (payload) {
      dom.replaceProductComingSoon(productId, payload.size_html)
    })
    productChannel.on("stock_change", function (payload) {
      dom.updateItemLevel(payload.item_id, payload.level)
    })
  }

  // ---- the cart ----

  var CART_STORAGE_KEY = "sneakers23.cart"

  var cartStore = {
    load: function () {
      try { return window.localStorage.getItem(CART_STORAGE_KEY) } catch (e) { return null }
    },
    save: function (serialized) {
      try { window.localStorage.setItem(CART_STORAGE_KEY, serialized) } catch (e) { /* private mode */ }
    }
  }

  var cartDom = {
    panel: function () { return document.querySelector(".cart") },

    // Shows a message in the cart panel ("" clears it).
    notice: function (text) {
      var el = document.querySelector(".cart__notice")
      if (el) el.textContent = text
    },

    // Draws the cart: one line per item with its remove button, sold-out
    // marks, and the checkout form (disabled while empty or holding a sold-out
    // size). Catalogue strings go in as text, never as HTML.
    render: function (cart) {
      var list = document.querySelector(".cart__items")
      if (!list) return
      while (list.firstChild) list.removeChild(list.firstChild)
      var items = Array.isArray(cart.items) ? cart.items : []
      items.forEach(function (item) {
        var li = document.createElement("li")
        li.className = "cart__item" + (item.out_of_stock ? " cart__item--out" : "")
        li.dataset.itemId = String(item.id)
        var name = document.createElement("span")
        name.className = "cart__item-name"
        name.textContent = item.brand + " " + item.name
        var detail = document.createElement("span")
        detail.className = "cart__item-detail"
        detail.textContent = item.color + " · size " + item.size
        var price = document.createElement("span")
        price.className = "cart__item-price"
        price.textContent = item.price
        li.appendChild(name)
        li.appendChild(detail)
        if (item.out_of_stock) {
          var out = document.createElement("span")
          out.className = "cart__item-out"
          out.textContent = "sold out"
          li.appendChild(out)
        }
        li.appendChild(price)
        var remove = document.createElement("button")
        remove.type = "button"
        remove.className = "cart__remove"
        remove.value = String(item.id)
        remove.textContent = "Remove"
        remove.setAttribute("aria-label", "Remove " + item.name + " size " + item.size)
        li.appendChild(remove)
        list.appendChild(li)
      })
      var empty = document.querySelector(".cart__empty")
      if (empty) empty.hidden = items.length > 0
      var field = document.querySelector(".cart__checkout input[name=serialized]")
      if (field) field.value = cart.serialized || ""
      var button = document.querySelector(".cart__checkout-button")
      if (button) {
        button.disabled = items.length === 0 || items.some(function (i) { return i.out_of_stock })
      }
      // Sizes in the cart are marked on the product listings.
      var inCart = {}
      items.forEach(function (item) { inCart[String(item.id)] = true })
      var entries = document.querySelectorAll(".size-container__entry")
      Array.prototype.forEach.call(entries, function (el) {
        var picked = inCart[el.value] === true
        el.classList.toggle("size-container__entry--in-cart", picked)
        el.setAttribute("aria-pressed", picked ? "true" : "false")
      })
    }
  }

  function applyCart(cart) {
    if (!cart || typeof cart.serialized !== "string") return
    cartStore.save(cart.serialized)
    cartDom.render(cart)
  }

  function setupCartChannel(socket, connection, cartId) {
    // Params as a function: every rejoin sends the cart as it is now.
    var cartChannel = socket.channel("cart:" + cartId, function () {
      var serialized = cartStore.load()
      return serialized ? { serialized: serialized } : {}
    })
    connection.watch(cartChannel)
    cartChannel.join()
      .receive("ok", function () {
        cartDom.notice("")
        connection.joined(cartChannel)
      })
      .receive("error", function (reply) {
        if (reply && reply.reason === "unauthorized") {
          // The page's cart token no longer opens the cart: the server's
          // secret changed (a development node restarted without
          // SECRET_KEY_BASE). Rejoining cannot help; a reload gets a new one.
          console.warn("Cart join refused: the page's cart token is no longer valid")
          cartChannel.leave()
          cartDom.notice("Your cart session has expired: reload the page to keep shopping.")
          return
        }
        console.error("Cart join failed", reply)
        cartDom.notice("Your cart is unavailable right now: retrying.")
      })
    cartChannel.on("cart", applyCart)

    function send(event, itemId) {
      cartDom.notice("")
      cartChannel.push(event, { item_id: itemId })
        .receive("ok", applyCart)
        .receive("error", function (reply) {
          cartDom.notice((reply && reply.message) || "That did not work: please try again.")
        })
        .receive("timeout", function () {
          cartDom.notice("The store did not answer: please try again.")
        })
    }

    document.addEventListener("click", function (event) {
      var target = event.target instanceof Element ? event.target : null
      if (!target) return
      var size = target.closest(".size-container__entry")
      if (size && !size.disabled) {
        send(size.classList.contains("size-container__entry--in-cart") ? "remove_item" : "add_item", size.value)
        return
      }
      var remove = target.closest(".cart__remove")
      if (remove) send("remove_item", remove.value)
    })
  }

  // ---- the connection, as the shopper sees it ----

  var CONNECTION_LABELS = {
    connecting: "Connecting…",
    connected: "Live: stock updates as it sells",
    reconnecting: "Reconnecting… stock shown may be out of date",
    offline: "Offline: waiting for the network…",
    unavailable: "Not live: reload the page to see current stock"
  }

  function showConnection(state) {
    var el = document.querySelector(".connection")
    if (!el || el.dataset.state === state) return
    el.className = "connection connection--" + state
    el.dataset.state = state
    el.textContent = CONNECTION_LABELS[state]
  }

  // Keeps `.connection` current. "connected" means what the shopper reads is
  // current: the socket is open and every channel's latest join has been
  // answered (the reply carries the state the page applies). While the
  // browser reports no network the socket is closed: a connection over a
  // vanished network can stay "open" until a heartbeat goes unanswered (30 s
  // and more), and reconnecting into no network only lengthens phoenix.js's
  // back-off. When the network returns the socket connects at once and every
  // channel rejoins.
  function Connection(socket) {
    var self = this
    var opened = false
    var offline = false
    var joined = {} // topic -> whether its latest join was answered "ok"

    function show() {
      if (offline) return showConnection("offline")
      var current = socket.isConnected() && Object.keys(joined).every(function (t) { return joined[t] })
      if (current) opened = true
      showConnection(current ? "connected" : opened ? "reconnecting" : "connecting")
    }

    // A channel the page needs joined to be current.
    self.watch = function (channel) {
      joined[channel.topic] = false
      channel.onError(function () { joined[channel.topic] = false; show() })
      // Left for good (e.g. a cart the page may no longer open): no longer awaited.
      channel.onClose(function () { delete joined[channel.topic]; show() })
    }
    // The channel's join (or rejoin) was answered: the page has its state.
    self.joined = function (channel) {
      joined[channel.topic] = true
      show()
    }

    socket.onOpen(show)
    socket.onClose(show)
    socket.onError(show)
    window.addEventListener("offline", function () {
      offline = true
      show()
      socket.disconnect()
    })
    window.addEventListener("online", function () {
      if (!offline) return
      offline = false
      show()
      socket.connect()
    })
  }

  if (typeof Phoenix === "undefined") {
    console.error("phoenix.min.js did not load: the page will not update live")
    showConnection("unavailable")
    return
  }
  var productIds = dom.getProductIds()
  var cartId = typeof window.cartId === "string" ? window.cartId : null
  if (productIds.length > 0 || cartId) {
    // WebSocket first; long poll if it cannot connect within 2.5 s. The cart
    // token proves which cart this page may join.
    var params = window.cartToken ? { cart_token: window.cartToken } : {}
    var productSocket = new Phoenix.Socket("/product_socket", { longPollFallbackMs: 2500, params: params })
    var connection = new Connection(productSocket)
    productIds.forEach(function (id) {
      setupProductChannel(productSocket, connection, id)
    })
    if (cartId && cartDom.panel()) setupCartChannel(productSocket, connection, cartId)
    productSocket.connect()
  }
})()
