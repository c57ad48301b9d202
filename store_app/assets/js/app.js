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

  function setupProductChannel(socket, productId) {
    var productChannel = socket.channel("product:" + productId, {})
    productChannel.join()
      .receive("ok", function (state) {
        applyProductState(productId, state)
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

  if (typeof Phoenix === "undefined") {
    console.error("phoenix.min.js did not load: the page will not update live")
    return
  }
  var productIds = dom.getProductIds()
  if (productIds.length > 0) {
    // WebSocket first; long poll if it cannot connect within 2.5 s.
    var productSocket = new Phoenix.Socket("/product_socket", { longPollFallbackMs: 2500 })
    productSocket.connect()
    productIds.forEach(function (id) {
      setupProductChannel(productSocket, id)
    })
  }
})()
