/* The station page (/s/{code}): check in, rate, report a problem; and the receipt page
   (/s/receipt/{r}). Plain JS, no build step; user text only ever reaches the page through
   textContent. */
(function () {
  "use strict";

  var TZ = "Asia/Shanghai";
  var FETCH_TIMEOUT_MS = 15000;
  var RECEIPTS_MAX = 20;

  function $(id) { return document.getElementById(id); }

  function el(tag, props) {
    var node = document.createElement(tag);
    var key;
    for (key in props || {}) node[key] = props[key];
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function fetchJSON(url, options) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (controller) controller.abort(); }, FETCH_TIMEOUT_MS);
    var opts = Object.assign({ headers: { Accept: "application/json" }, cache: "no-store" }, options || {});
    if (controller) opts.signal = controller.signal;
    return fetch(url, opts).then(function (response) {
      clearTimeout(timer);
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var err = new Error((data && data.detail) || ("服务器返回错误 " + response.status));
          err.status = response.status;
          err.data = data;
          err.retryAfter = Number(response.headers.get("Retry-After")) || 0;
          throw err;
        }
        return data;
      });
    }, function (e) {
      clearTimeout(timer);
      var err = new Error(e && e.name === "AbortError" ? "网络太慢，请求超时。" : "网络连接失败，请检查网络。");
      err.network = true;
      throw err;
    });
  }

  function postJSON(url, body) {
    return fetchJSON(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  }

  function message(id, text, ok) {
    var node = $(id);
    node.textContent = text;
    node.className = "form-message" + (ok ? " ok" : "");
    node.hidden = !text;
  }

  // What a failed write tells the worker, in Chinese: a 429 says how long to wait.
  function failure(err, what) {
    if (err.status === 429) {
      var minutes = Math.max(1, Math.round(err.retryAfter / 60));
      return what + "太频繁了，请 " + minutes + " 分钟后再试。";
    }
    if (err.status === 404) return "没有找到这个驿站，可能已撤销。";
    if (err.data && err.data.errors && err.data.errors.length) {
      return err.data.errors.map(function (x) { return x.message; }).join("；");
    }
    if (err.network) return err.message;
    return what + "失败：" + err.message + " 请稍后重试。";
  }

  var timeFmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: TZ, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  function when(iso) { return iso ? timeFmt.format(new Date(iso)) : "—"; }

  // -- 我的反馈: receipts kept on this phone only -------------------------------------------

  function receiptsKey() {
    var data = $("station-data") || $("receipt-data");
    return (data && JSON.parse(data.textContent).receiptsKey) || "yizhan.receipts";
  }

  function loadReceipts() {
    try {
      var list = JSON.parse(window.localStorage.getItem(receiptsKey()) || "[]");
      return Array.isArray(list) ? list.filter(function (r) { return r && typeof r.receipt === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }

  function keepReceipt(entry) {
    var list = loadReceipts().filter(function (r) { return r.receipt !== entry.receipt; });
    list.unshift(entry);
    try { window.localStorage.setItem(receiptsKey(), JSON.stringify(list.slice(0, RECEIPTS_MAX))); } catch (e) { /* not kept */ }
    showReceipts();
  }

  function receiptLink(receipt) {
    return el("a", { href: "/s/receipt/" + encodeURIComponent(receipt), className: "receipt-link" }, "回执 " + receipt);
  }

  function showReceipts() {
    var box = $("receipts");
    if (!box) return;
    var list = loadReceipts();
    box.textContent = "";
    list.forEach(function (r) {
      box.appendChild(el("li", null, receiptLink(r.receipt), " ", el("span", { className: "hint" },
        [r.station_name, r.what, r.at ? when(r.at) : ""].filter(Boolean).join(" · "))));
    });
    $("mine").hidden = !list.length;
  }

  function receiptShown(id, data, station, what, text) {
    var node = $(id);
    message(id, text, true);
    if (data && data.receipt) {
      keepReceipt({ receipt: data.receipt, station_id: station.id, station_name: station.name, what: what, at: new Date().toISOString() });
      node.appendChild(el("br"));
      node.appendChild(document.createTextNode("回执号（可查看处理进度）："));
      node.appendChild(receiptLink(data.receipt));
    }
  }

  // -- the station page -----------------------------------------------------------------------

  function stationPage() {
    var station = JSON.parse($("station-data").textContent);
    var base = "/v1/stations/" + station.id;

    document.querySelectorAll(".occupation").forEach(function (button) {
      button.addEventListener("click", function () {
        var buttons = document.querySelectorAll(".occupation");
        buttons.forEach(function (b) { b.disabled = true; });
        message("checkin-message", "正在签到…", true);
        postJSON(base + "/visits", { occupation: button.dataset.occupation, code: station.code }).then(function (data) {
          message("checkin-message", (data && data.message) || "签到成功，谢谢！", true);
          button.classList.add("chosen");
        }, function (err) {
          message("checkin-message", failure(err, "签到"));
        }).then(function () {
          buttons.forEach(function (b) { b.disabled = false; });
        });
      });
    });

    var comment = $("rate-comment");
    function chosenStars() {
      var input = document.querySelector("#stars input:checked");
      return input ? Number(input.value) : 0;
    }
    function caseHint() {
      var stars = chosenStars();
      $("rate-case-hint").hidden = !(stars > 0 && stars <= 2 && comment.value.trim());
      document.querySelectorAll("#stars .star").forEach(function (label, i) {
        label.classList.toggle("lit", i < stars);
      });
    }
    document.querySelectorAll("#stars input").forEach(function (input) { input.addEventListener("change", caseHint); });
    comment.addEventListener("input", caseHint);

    $("rate-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var stars = chosenStars();
      if (!stars) {
        message("rate-message", "请先点选 1 到 5 颗星。");
        return;
      }
      $("rate-send").disabled = true;
      message("rate-message", "");
      postJSON(base + "/ratings", { stars: stars, comment: comment.value.trim() }).then(function (data) {
        var text = (data && data.message) || "谢谢您的评价！";
        receiptShown("rate-message", data, station, stars + " 星评价", text);
      }, function (err) {
        message("rate-message", failure(err, "评价"));
      }).then(function () { $("rate-send").disabled = false; });
    });

    $("report-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var input = document.querySelector("#report-form input[name=kind]:checked");
      var kind = input ? input.value : "";
      var note = $("report-note").value.trim();
      if (kind === "other" && !note) {
        message("report-message", "选择“其他问题”时请写明是什么问题。");
        $("report-note").focus();
        return;
      }
      $("report-send").disabled = true;
      message("report-message", "");
      postJSON(base + "/feedback", { kind: kind, note: note }).then(function (data) {
        var text = (data && data.message) || "已收到，谢谢！";
        receiptShown("report-message", data, station, station.feedback[kind] || kind, text);
      }, function (err) {
        message("report-message", failure(err, "提交"));
      }).then(function () { $("report-send").disabled = false; });
    });

    showReceipts();
  }

  // -- the receipt page -----------------------------------------------------------------------

  function receiptPage() {
    var data = JSON.parse($("receipt-data").textContent);
    var url = "/v1/feedback/receipts/" + encodeURIComponent(data.receipt);

    function render(doc) {
      $("receipt-loading").hidden = true;
      $("receipt-body").hidden = false;
      var state = $("receipt-state");
      state.textContent = doc.state_label + (doc.overdue ? "（已超过处理期限）" : "");
      state.className = "state state-" + doc.state + (doc.overdue ? " overdue" : "");
      $("receipt-station").textContent = doc.station_name || ("驿站 " + doc.station_id);
      $("receipt-kind").textContent = doc.kind_label || doc.kind || "—";
      $("receipt-opened").textContent = when(doc.opened_at);
      $("receipt-due").textContent = when(doc.due_at);
      $("receipt-reply-box").hidden = !doc.reply;
      $("receipt-reply").textContent = doc.reply ? doc.reply + (doc.replied_at ? "（" + when(doc.replied_at) + "）" : "") : "";
      var history = $("receipt-history");
      history.textContent = "";
      (doc.history || []).forEach(function (h) {
        history.appendChild(el("li", null, when(h.at) + " " + (h.state_label || h.state)));
      });
      $("receipt-confirm").hidden = !doc.can_confirm;
      $("receipt-reopen").hidden = !doc.can_reopen;
    }

    function fail(err) {
      $("receipt-loading").hidden = true;
      if (err.status === 404) message("receipt-message", "没有找到这个回执号，请核对。");
      else message("receipt-message", failure(err, "查询"));
    }

    function act(path, done) {
      var buttons = [$("receipt-confirm"), $("receipt-reopen")];
      buttons.forEach(function (b) { b.disabled = true; });
      fetchJSON(url + "/" + path, { method: "POST", headers: { Accept: "application/json" } }).then(function (doc) {
        render(doc);
        message("receipt-message", done, true);
      }, fail).then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
    }

    $("receipt-confirm").addEventListener("click", function () { act("confirm", "已确认解决，谢谢您的反馈！"); });
    $("receipt-reopen").addEventListener("click", function () { act("reopen", "已告诉工会问题仍未解决，会继续处理。"); });
    fetchJSON(url).then(render, fail);
  }

  var page = document.body.dataset.page;
  if (page === "station") stationPage();
  else if (page === "receipt") receiptPage();
})();
