// The admin dashboard's live view (plain browser JavaScript, like app.js):
// joins `admin:cart_tracker` on /admin_socket with the page's admin token
// and keeps phoenix.js's `Presence` of every tracked cart (key: the cart id;
// one meta per open tab: {node, items}). From it the page shows shoppers
// online (carts with at least one tab open), per node, and for every size
// how many carts hold it. The token is short-lived: a fresh one is fetched
// from /admin/token every two minutes, and every (re)connect sends the
// latest.
(function () {
  "use strict"

  var TOKEN_REFRESH_MS = 2 * 60 * 1000
  var token = window.adminToken

  function setText(el, text) { if (el) el.textContent = String(text) }

  function render(presence) {
    var carts = presence.list(function (id, entry) { return { id: id, metas: entry.metas } })
    setText(document.querySelector("[data-total]"), carts.length)
    // A cart open on several nodes counts once per node it is open on.
    var perNode = {}
    var perItem = {}
    carts.forEach(function (cart) {
      var nodes = {}
      var items = {}
      cart.metas.forEach(function (meta) {
        nodes[meta.node] = true
        ;(meta.items || []).forEach(function (id) { items[String(id)] = true })
      })
      Object.keys(nodes).forEach(function (node) { perNode[node] = (perNode[node] || 0) + 1 })
      Object.keys(items).forEach(function (id) { perItem[id] = (perItem[id] || 0) + 1 })
    })
    var body = document.querySelector("[data-nodes]")
    if (body) {
      while (body.firstChild) body.removeChild(body.firstChild)
      Object.keys(perNode).sort().forEach(function (node) {
        var row = document.createElement("tr")
        row.dataset.node = node
        var name = document.createElement("td")
        name.textContent = node
        var count = document.createElement("td")
        count.textContent = String(perNode[node])
        row.appendChild(name)
        row.appendChild(count)
        body.appendChild(row)
      })
    }
    var cells = document.querySelectorAll("[data-count-for]")
    Array.prototype.forEach.call(cells, function (cell) {
      var n = perItem[cell.dataset.countFor] || 0
      cell.textContent = String(n)
      cell.classList.toggle("admin__count--held", n > 0)
    })
  }

  function refreshToken() {
    if (typeof fetch !== "function") return
    fetch("/admin/token", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null })
      .then(function (fresh) { if (fresh) token = fresh })
      .catch(function () { /* the next refresh tries again */ })
  }

  if (typeof Phoenix === "undefined") {
    console.error("phoenix.min.js did not load: the dashboard will not update live")
    return
  }
  var socket = new Phoenix.Socket("/admin_socket", {
    params: function () { return { token: token } },
    longPollFallbackMs: 2500
  })
  socket.connect()
  var channel = socket.channel("admin:cart_tracker", {})
  var presence = new Phoenix.Presence(channel)
  presence.onSync(function () { render(presence) })
  var status = document.querySelector(".admin__status")
  channel.join()
    .receive("ok", function () { setText(status, "Live.") })
    .receive("error", function (reason) {
      console.error("admin join failed", reason)
      setText(status, "Not connected: reload the page.")
    })
  socket.onError(function () { setText(status, "Reconnecting…") })
  setInterval(refreshToken, TOKEN_REFRESH_MS)
})()
