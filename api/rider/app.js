/* The rider page: nearest stations open now, filters, navigation, problem reports.
   Plain JS, no build step. User text only ever reaches the page through textContent. */
(function () {
  "use strict";

  var TZ = "Asia/Shanghai";
  var WALK_M_PER_MIN = 80;
  var FETCH_TIMEOUT_MS = 15000;
  var APP_FALLBACK_MS = 1600;
  var DEFAULT_VIEW = { lon: 106.55, lat: 29.56, zoom: 11 };
  var HERE_STYLE = { radius: 8, color: "#1d5fd1", weight: 3, fillOpacity: 0.5 };
  var PIN_HALF_PX = 22; // the pin's 44 px tap target, centred on the station
  var DOT_HALF_PX = 15; // the numbered dot (26 px) and its shadow
  var PIN_GAP_PX = 28; // numbered dots at least this far apart, centre to centre
  var HERE_GAP_PX = 24; // and this far from the rider's own dot
  var TILES_KEY = "yizhan.tiles";

  var body = document.body;
  var labels = JSON.parse(document.getElementById("labels").textContent);
  var tileChoices = JSON.parse(document.getElementById("tiles-data").textContent);
  var state = {
    // point: what the rider chose, {lon, lat, crs}, as the server is asked with it; asked:
    // the system positions were last asked in; at (the point) and results (the stations):
    // the last answer, in ``drawn`` (the system the server says they are in).
    point: null, at: null, drawn: null, asked: null, zoom: null, recentre: false,
    results: [], seq: 0,
    // travel: "walk" when the server has a walking network (GET /v1/networks): nearest by
    // route, minutes on foot from the network; null: by the straight line.
    travel: null,
    map: null, layer: null, leaders: null, here: null,
    markers: {}, order: [], tiles: tileChoices[0] || null, tileLayers: [],
  };

  function $(id) { return document.getElementById(id); }

  // el("p", {className: "x"}, "text", child) — strings become text nodes, never HTML.
  function el(tag, props) {
    var node = document.createElement(tag);
    var key;
    for (key in props || {}) {
      if (key === "dataset") Object.assign(node.dataset, props[key]);
      else if (key.indexOf("aria-") === 0 || key === "role") node.setAttribute(key, props[key]);
      else node[key] = props[key];
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function icon(name) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    var use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#i-" + name);
    svg.appendChild(use);
    return svg;
  }

  function show(node, visible) { node.hidden = !visible; }

  // Old WebViews lack <dialog>: then the open attribute shows it in place.
  function openDialog(d) { if (d.showModal) d.showModal(); else d.setAttribute("open", ""); }
  function closeDialog(d) { if (d.close) d.close(); else d.removeAttribute("open"); }

  function setStatus(text) { $("status").textContent = text; }

  // -- coordinates: the map draws in its tiles' system ------------------------------------
  // The page converts nothing: it sends a point in the system it has it in (WGS-84 from the
  // phone, its tiles' system for a tap) and asks the server (out_crs) for every position
  // to draw in its tiles' system (GCJ-02 on Amap, shifted only inside Amap's border).

  function drawnIn() { return (state.tiles && state.tiles.drawn_in) || "wgs84"; }

  // A {lon, lat} in the current tiles' system → a Leaflet [lat, lng].
  function latLng(p) { return [p.lat, p.lon]; }

  // -- fetching, with a timeout and messages a rider understands --------------------------

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
      var err = new Error(e && e.name === "AbortError" ? "网络太慢，加载超时。" : "网络连接失败，请检查网络。");
      err.network = true;
      throw err;
    });
  }

  // -- formatting ---------------------------------------------------------------------------

  var dayFmt = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" });
  var timeFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var dateFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, month: "numeric", day: "numeric" });

  function dayNumber(date) {
    var parts = dayFmt.format(date).split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, +parts[2]) / 86400000;
  }

  // A coming time as a rider reads it: 14:00, 明天 14:00, 12/3 14:00.
  function laterTime(iso) {
    var change = new Date(iso);
    var days = dayNumber(change) - dayNumber(new Date());
    var when = timeFmt.format(change);
    if (days === 1) when = "明天 " + when;
    else if (days > 1) when = dateFmt.format(change) + " " + when;
    return when;
  }

  function openUntil(result) {
    if (result.mobile && result.stop_name) {
      return result.stop_until ? "停靠至 " + laterTime(result.stop_until) : "停靠中";
    }
    if (!result.next_change) return "全天开放";
    return "营业至 " + laterTime(result.next_change);
  }

  // A mobile station (流动驿站) placed at its stop: where it stands and until when, and
  // the stop's own hours instead of the vehicle's.
  function mobileLine(result) {
    if (!result.mobile || !result.stop_name) return null;
    var text = "停靠 " + result.stop_name + (result.stop_until ? " 至 " + laterTime(result.stop_until) : "");
    return el("p", { className: "mobile" }, el("span", { className: "badge badge-mobile" }, "流动驿站"), text);
  }

  function hoursLine(result) {
    if (result.mobile && result.stop_name) {
      var text = result.stop_hours;
      return text ? el("p", { className: "hours" }, "本停靠点时间：" + text) : null;
    }
    var hours = result.hours_text || result.hours;
    return hours ? el("p", { className: "hours" }, "开放时间：" + hours) : null;
  }

  function metres(m) { return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里"; }

  function distanceText(m) {
    var d = metres(m);
    var minutes = Math.max(1, Math.round(m / WALK_M_PER_MIN));
    return minutes <= 60 ? d + " · 步行约 " + minutes + " 分钟" : d;
  }

  // By route (travel=walk): the network's own minutes and the route's length.
  function resultDistance(result) {
    if (result.duration_s === undefined || result.duration_s === null) return distanceText(result.distance_m);
    var minutes = Math.max(1, Math.ceil(result.duration_s / 60));
    return "步行 " + minutes + " 分钟 · " + metres(result.route_m);
  }

  // Whether the server routes on foot: asked once; without an answer, the straight line.
  var networks = fetchJSON("/v1/networks").then(function (data) {
    var list = (data && data.networks) || [];
    state.travel = list.some(function (n) { return n.profile === "walk"; }) ? "walk" : null;
  }, function () { state.travel = null; });

  // -- the list -------------------------------------------------------------------------------

  function query(travel) {
    var p = state.point;
    var params = ["lon=" + p.lon.toFixed(7), "lat=" + p.lat.toFixed(7), "crs=" + p.crs,
      "out_crs=" + drawnIn(), "k=10", "open_now=true"];
    if (travel) params.push("travel=" + encodeURIComponent(travel));
    var chips = document.querySelectorAll(".chip[aria-pressed='true']");
    for (var i = 0; i < chips.length; i++) {
      params.push(encodeURIComponent(chips[i].dataset.param) + "=" + encodeURIComponent(chips[i].dataset.value));
    }
    return "/v1/stations/nearest?" + params.join("&");
  }

  // Nearest by route when the server routes on foot; outside its network (or with the
  // network gone meanwhile) the straight line, with a short note.
  function ask() {
    return networks.then(function () {
      if (!state.travel) return { data: null, note: "" };
      return fetchJSON(query(state.travel)).then(function (data) {
        if (!(data.results || []).length) return { data: null, note: "步行路线到不了附近开放的驿站，按直线距离" };
        var off = (data.unreachable || []).length;
        return { data: data, note: off ? "另有 " + off + " 个驿站离道路太远，无法按步行路线计算。" : "" };
      }, function (err) {
        var code = err.data && err.data.code;
        if (code === "point_off_network") return { data: null, note: "不在路网范围内，按直线距离" };
        if (code === "network_not_loaded") { state.travel = null; return { data: null, note: "" }; }
        throw err;
      });
    }).then(function (got) {
      if (got.data) return got;
      return fetchJSON(query(null)).then(function (data) { return { data: data, note: got.note }; });
    });
  }

  function load() {
    if (!state.point) return;
    var seq = ++state.seq;
    show($("error"), false);
    show($("empty"), false);
    show($("travel-note"), false);
    show($("loading"), true);
    $("list").setAttribute("aria-busy", "true");
    state.asked = drawnIn();
    ask().then(function (got) {
      if (seq !== state.seq) return;
      var data = got.data;
      $("travel-note").textContent = got.note;
      show($("travel-note"), !!got.note);
      show($("loading"), false);
      $("list").removeAttribute("aria-busy");
      state.results = data.results || [];
      // Positions to draw, in the system the server says they are in: drawn only while
      // that is the tiles' system (a tile switch asks again).
      var q = data.query || {};
      state.drawn = q.out_crs || null;
      state.at = q.out_crs ? { lon: q.out_lon, lat: q.out_lat } : null;
      placeHere();
      render(state.results);
      loadWarnings(state.results, seq);
    }, function (err) {
      if (seq !== state.seq) return;
      show($("loading"), false);
      $("list").removeAttribute("aria-busy");
      $("error-text").textContent = "加载失败：" + err.message;
      show($("error"), true);
    });
  }

  function card(result, i) {
    var entry = [];
    if (result.self_service_24h) entry.push(el("span", { className: "badge" }, "24小时自助"));
    var methods = (result.entry_methods || []).map(function (m) { return labels.entry[m] || m; });
    if (methods.length) entry.push("进门方式：" + methods.join("、"));
    if (result.registration_required) entry.push("（需先注册）");
    else if (result.self_service_24h) entry.push("（无需注册）");

    var amenities = el("ul", { className: "amenities", "aria-label": "提供的服务" });
    (result.amenities || []).forEach(function (a) {
      amenities.appendChild(el("li", { className: "amenity" }, icon(a), labels.amenities[a] || a));
    });

    var navButton = el("button", { type: "button", className: "btn btn-primary nav" }, "导航");
    navButton.addEventListener("click", function () { openNavigation(result); });
    var reportButton = el("button", { type: "button", className: "btn report" }, "报告问题");
    reportButton.addEventListener("click", function () { openReport(result); });

    var actions = el("div", { className: "actions" }, navButton, reportButton);
    var pageLink = result.page_url
      ? el("a", { className: "btn page-link", href: result.page_url }, "驿站主页 · 签到 · 评价")
      : null;
    var phone = (result.contact_phone || "").replace(/[^0-9+\-]/g, "");
    if (phone) {
      actions.appendChild(el("a", { className: "btn tel", href: "tel:" + phone, "aria-label": "打电话 " + phone }, "电话"));
    }

    return el(
      "li",
      { className: "card", id: "station-" + result.id, tabIndex: -1, dataset: { id: String(result.id) } },
      el("div", { className: "card-head" }, el("span", { className: "num", "aria-hidden": "true" }, String(i + 1)),
        el("h3", { className: "name" }, result.name)),
      el("p", { className: "meta" }, el("strong", null, resultDistance(result)), " · ",
        el("span", { className: "open" }, openUntil(result))),
      mobileLine(result),
      standing(result),
      result.address && !(result.mobile && result.stop_name) ? el("p", { className: "addr" }, result.address) : null,
      hoursLine(result),
      entry.length ? el.apply(null, ["p", { className: "entry" }].concat(entry)) : null,
      amenities.childNodes.length ? amenities : null,
      el("p", { className: "warning", hidden: true }),
      actions,
      pageLink
    );
  }

  // Stars and rating, when the record has them (nothing otherwise).
  function standing(result) {
    var parts = [];
    if (result.stars) parts.push(el("span", { className: "stars-badge" }, "★".repeat(result.stars) + " " + result.stars + " 星驿站"));
    var rating = result.rating;
    if (rating && rating.count && rating.average !== null && rating.average !== undefined) {
      parts.push(el("span", { className: "rating" }, "评分 " + Number(rating.average).toFixed(1) + "（" + rating.count + " 人评价）"));
    }
    return parts.length ? el.apply(null, ["p", { className: "standing" }].concat(parts)) : null;
  }

  function render(results) {
    var list = $("list");
    list.textContent = "";
    results.forEach(function (r, i) { list.appendChild(card(r, i)); });
    if (!results.length) {
      var filtered = document.querySelector(".chip[aria-pressed='true']");
      $("empty").textContent = filtered
        ? "附近没有符合筛选条件、现在开放的驿站。试试减少筛选条件。"
        : "附近暂时没有现在开放的驿站。";
      show($("empty"), true);
    }
    drawMarkers(results);
  }

  function loadWarnings(results, seq) {
    if (!results.length) return;
    var ids = results.map(function (r) { return r.id; }).join(",");
    fetchJSON("/v1/feedback/summary?station_id=" + ids).then(function (data) {
      if (seq !== state.seq) return;
      (data.stations || []).forEach(function (s) {
        var node = document.querySelector("#station-" + s.station_id + " .warning");
        if (!node) return;
        var kinds = Object.keys(s.kinds).map(function (k) {
          return (labels.feedback[k] || k) + (s.kinds[k] > 1 ? " ×" + s.kinds[k] : "");
        });
        node.textContent = "";
        node.appendChild(icon("warn"));
        node.appendChild(el("span", null,
          "近 " + data.days + " 天有 " + s.unresolved + " 条骑手反馈尚未处理：" + kinds.join("、") + "。去之前可先电话确认。"));
        node.hidden = false;
      });
    }, function () { /* warnings are extra: the list stands without them */ });
  }

  // -- where the rider is ----------------------------------------------------------------------

  // ``point`` is {lon, lat, crs}: the server gives it back in the tiles' system to draw.
  function setPoint(point, label, zoom) {
    state.point = point;
    state.zoom = zoom || null;
    state.recentre = true;
    setStatus(label);
    load();
    if (eventsShown()) loadEvents();
  }

  // The rider's dot where the server says it is on the current tiles, and the map on it.
  function placeHere() {
    var map = state.map;
    if (!map || !state.at || state.drawn !== drawnIn()) return;
    var at = latLng(state.at);
    if (state.here) state.here.setLatLng(at);
    else state.here = window.L.circleMarker(at, HERE_STYLE).addTo(map);
    // On a new point, or on new tiles; a change of filters leaves the view to the rider.
    if (state.recentre) map.setView(at, state.zoom || Math.max(map.getZoom(), 14), { animate: false });
    state.recentre = false;
  }

  function locate() {
    if (!navigator.geolocation) {
      setStatus("这个浏览器不能定位。请选择区县，或在地图上点选位置。");
      return;
    }
    setStatus("正在获取您的位置…（也可以选择区县或在地图上点选）");
    navigator.geolocation.getCurrentPosition(function (pos) {
      var accuracy = Math.round(pos.coords.accuracy);
      setPoint({ lon: pos.coords.longitude, lat: pos.coords.latitude, crs: "wgs84" },
        "已按您的位置查找" + (accuracy > 0 ? "（精度约 " + accuracy + " 米）" : ""));
    }, function (err) {
      var why = err.code === 1 ? "没有获得定位权限" : err.code === 3 ? "定位超时" : "暂时无法定位";
      if (!state.point) setStatus(why + "。请选择区县，或在地图上点一下您所在的位置。");
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }

  function loadDistricts() {
    var select = $("district");
    fetchJSON("/app/districts.json").then(function (data) {
      state.districts = {};
      (data.districts || []).forEach(function (d) {
        state.districts[d.adcode] = d;
        select.appendChild(el("option", { value: d.adcode }, d.name));
      });
      select.disabled = false;
      fitDistricts();
    }, function () {
      select.options[0].textContent = "区县列表加载失败";
    });
    select.addEventListener("change", function () {
      var d = state.districts && state.districts[select.value];
      if (d) setPoint({ lon: d.lon, lat: d.lat, crs: "wgs84" }, "已按" + d.name + "中心查找（可在地图上点选更准确的位置）", 13);
    });
  }

  // Before the rider has a point: every district in view, where the server draws its centre.
  function fitDistricts() {
    if (state.point || !state.map || !state.districts) return;
    var system = drawnIn(), points = [];
    Object.keys(state.districts).forEach(function (code) {
      var p = (state.districts[code].drawn || {})[system];
      if (p) points.push(latLng(p));
    });
    if (points.length) state.map.fitBounds(points, fitOptions());
  }

  // -- the map (optional: the page works without Leaflet or tiles) -------------------------------

  // Riders pinch to zoom: on a touch screen the +/- buttons would only cover pins.
  function touchScreen() {
    return !!(window.matchMedia && window.matchMedia("(pointer: coarse)").matches) || !!(window.L && window.L.Browser.mobile);
  }

  function initMap() {
    var L = window.L;
    if (!L || state.map) return;
    var map = L.map("map", { attributionControl: false, zoomControl: !touchScreen() })
      .setView([DEFAULT_VIEW.lat, DEFAULT_VIEW.lon], DEFAULT_VIEW.zoom);
    state.map = map;
    state.leaders = L.layerGroup().addTo(map);
    state.layer = L.layerGroup().addTo(map);
    buildTileSwitch();
    setTiles(rememberedTiles() || state.tiles);
    map.on("click", function (e) {
      // A point on these tiles, in their system: the server resolves it.
      setPoint({ lon: e.latlng.lng, lat: e.latlng.lat, crs: drawnIn() }, "已按地图上选的位置查找");
    });
    map.on("zoomend moveend resize", layoutPins);
    fitDistricts();
    if (state.at) {
      placeHere();
      drawMarkers(state.results);
    }
  }

  // -- the tiles: a switch between the providers the server offers -------------------------------

  function rememberedTiles() {
    try {
      var name = window.localStorage.getItem(TILES_KEY);
      return tileChoices.filter(function (t) { return t.name === name; })[0] || null;
    } catch (e) {
      return null; // storage refused (private mode, some WebViews)
    }
  }

  function buildTileSwitch() {
    var select = $("tiles");
    select.textContent = "";
    if (tileChoices.length < 2) return;
    tileChoices.forEach(function (t) { select.appendChild(el("option", { value: t.name }, t.label)); });
    select.addEventListener("change", function () {
      var t = tileChoices.filter(function (c) { return c.name === select.value; })[0];
      if (!t) return;
      setTiles(t);
      try { window.localStorage.setItem(TILES_KEY, t.name); } catch (e) { /* not kept */ }
    });
    $("tiles-field").hidden = false;
  }

  function setTiles(tiles) {
    var L = window.L, map = state.map;
    if (!tiles || !map) return;
    state.tileLayers.forEach(function (layer) { map.removeLayer(layer); });
    state.tiles = tiles;
    state.tileLayers = tiles.urls.map(function (url) {
      return L.tileLayer(url, { maxZoom: tiles.max_zoom, maxNativeZoom: tiles.max_zoom, subdomains: tiles.subdomains || "abc" }).addTo(map);
    });
    map.setMaxZoom(tiles.max_zoom);
    var credit = $("map-credit");
    credit.textContent = "地图 " + tiles.attribution;
    if (tiles.attribution_url) credit.href = tiles.attribution_url;
    else credit.removeAttribute("href");
    $("tiles").value = tiles.name;
    if (map.getZoom() > tiles.max_zoom) map.setZoom(tiles.max_zoom, { animate: false });
    if (state.point && state.asked !== drawnIn()) {
      // Tiles in another system: nothing stays drawn in the old one; the server gives every
      // position again in the new one (and the map follows them there).
      clearDrawn();
      state.recentre = true;
      load();
    } else {
      layoutPins();
    }
  }

  // Leaflet loads on its own (preloaded by the page): the list never waits for the map
  // library on a slow network, and without it there is simply no map.
  function loadLeaflet() {
    if (window.L) {
      initMap();
      return;
    }
    var script = document.createElement("script");
    script.async = true;
    script.addEventListener("load", initMap);
    script.addEventListener("error", function () {
      $("map").hidden = true;
      $("map-foot").hidden = true;
    });
    script.src = body.dataset.leafletJs;
    document.head.appendChild(script);
  }

  function clearDrawn() {
    state.layer.clearLayers();
    state.leaders.clearLayers();
    state.markers = {};
    state.order = [];
    if (state.here) state.map.removeLayer(state.here);
    state.here = null;
    state.at = null;
    state.drawn = null;
  }

  function drawMarkers(results) {
    if (!state.map || state.drawn !== drawnIn()) return;
    var L = window.L;
    state.layer.clearLayers();
    state.markers = {};
    state.order = [];
    results.forEach(function (r, i) {
      var marker = L.marker(latLng(r), {
        // A 44 px tap target around a 26 px numbered dot; the number is no user text.
        icon: L.divIcon({ className: "pin", html: '<span class="pin-num">' + (i + 1) + "</span>", iconSize: [44, 44] }),
        keyboard: false,
        // The list's order on top: pin 1 over pin 2 where they meet.
        zIndexOffset: (results.length - i) * 1000,
      });
      marker.on("click", function () {
        var item = $("station-" + r.id);
        if (item) { item.scrollIntoView({ block: "center" }); item.focus(); }
      });
      marker.addTo(state.layer);
      state.markers[r.id] = marker;
      state.order.push(r.id);
    });
    // Show where the rider is with the stations in walking reach (at least the nearest one).
    var reach = results.filter(function (r, i) { return i === 0 || (r.route_m || r.distance_m) <= 2000; });
    var points = reach.map(latLng);
    if (state.at) points.push(latLng(state.at));
    if (points.length > 1) {
      var options = fitOptions();
      options.maxZoom = Math.min(16, state.tiles ? state.tiles.max_zoom : 16);
      state.map.fitBounds(points, options);
    }
    layoutPins();
  }

  // The map's own controls (zoom buttons on a desktop), as rectangles in the map's pixels.
  function controlRects() {
    var box = state.map.getContainer().getBoundingClientRect();
    var out = [];
    state.map.getContainer().querySelectorAll(".leaflet-control").forEach(function (c) {
      var r = c.getBoundingClientRect();
      if (r.width && r.height) out.push({ left: r.left - box.left, top: r.top - box.top, right: r.right - box.left, bottom: r.bottom - box.top });
    });
    return out;
  }

  // Fitting padding: a pin's half width all round, plus whatever control lies in a corner.
  function fitOptions() {
    var size = state.map.getSize(), pad = PIN_HALF_PX + 4;
    var tl = [pad, pad], br = [pad, pad];
    controlRects().forEach(function (r) {
      if (r.left < size.x / 2) tl[0] = Math.max(tl[0], r.right + DOT_HALF_PX + 4);
      else br[0] = Math.max(br[0], size.x - r.left + DOT_HALF_PX + 4);
    });
    return { paddingTopLeft: tl, paddingBottomRight: br, animate: false };
  }

  // Where each numbered dot is drawn: on its station, but kept inside the map and off its
  // controls (a station beyond the edge is drawn hollow at the edge, towards it), and
  // pushed apart from the others and from the rider's own dot so every number can be read
  // (a thin line then leads to the station).
  function layoutPins() {
    var map = state.map;
    if (!map || !state.order.length) { if (state.leaders) state.leaders.clearLayers(); return; }
    var L = window.L, size = map.getSize(), e = DOT_HALF_PX;
    var blocked = controlRects();
    var here = state.here && state.point ? map.latLngToContainerPoint(state.here.getLatLng()) : null;
    var items = state.order.map(function (id) {
      var m = state.markers[id], p = map.latLngToContainerPoint(m.getLatLng());
      return { marker: m, p: p, x: p.x, y: p.y };
    });
    function keepInside(it) {
      it.x = Math.min(Math.max(it.x, e), size.x - e);
      it.y = Math.min(Math.max(it.y, e), size.y - e);
      blocked.forEach(function (r) {
        if (it.x > r.left - e && it.x < r.right + e && it.y > r.top - e && it.y < r.bottom + e) {
          // Out by the shorter way that stays on the map.
          var below = r.bottom + e, right = r.right + e, left = r.left - e;
          if (below <= size.y - e && below - it.y <= Math.min(right - it.x, it.x - left)) it.y = below;
          else if (left >= e && it.x - left < right - it.x) it.x = left;
          else it.x = right;
        }
      });
    }
    items.forEach(function (it) {
      keepInside(it);
      it.away = Math.abs(it.x - it.p.x) > 0.5 || Math.abs(it.y - it.p.y) > 0.5;
    });
    for (var round = 0; round < 40; round++) {
      var moved = false;
      for (var i = 0; i < items.length; i++) {
        var a = items[i];
        if (here) moved = apart(a, here, HERE_GAP_PX, 1) || moved;
        for (var j = i + 1; j < items.length; j++) moved = apart(a, items[j], PIN_GAP_PX, 0.5) || moved;
      }
      items.forEach(keepInside);
      if (!moved) break;
    }
    state.leaders.clearLayers();
    items.forEach(function (it) {
      var node = it.marker.getElement();
      if (!node) return;
      var dx = it.x - it.p.x, dy = it.y - it.p.y;
      node.style.marginLeft = (dx - PIN_HALF_PX) + "px";
      node.style.marginTop = (dy - PIN_HALF_PX) + "px";
      node.classList.toggle("pin-away", it.away);
      if (!it.away && dx * dx + dy * dy > 16) {
        L.polyline([it.marker.getLatLng(), map.containerPointToLatLng([it.x, it.y])],
          { color: "#b0102a", weight: 2, opacity: 0.9, interactive: false }).addTo(state.leaders);
      }
    });
  }

  // Push dot ``a`` (and, with share 0.5, dot ``b`` equally) until they are ``gap`` apart.
  function apart(a, b, gap, share) {
    var dx = a.x - b.x, dy = a.y - b.y, d = Math.sqrt(dx * dx + dy * dy);
    if (d >= gap - 0.01) return false;
    if (d < 0.01) { dx = 0; dy = -1; d = 1; } // the same spot: one above the other
    var push = gap - d, ux = dx / d, uy = dy / d;
    a.x += ux * push * share;
    a.y += uy * push * share;
    if (share < 1) { b.x -= ux * push * (1 - share); b.y -= uy * push * (1 - share); }
    return true;
  }

  // For scripts and tests: the map and what it draws.
  window.yizhanRider = {
    map: function () { return state.map; },
    tiles: function () { return state.tiles && state.tiles.name; },
    drawn: function () { return state.map && state.here ? state.drawn : null; },
    markers: function () { return state.order.map(function (id) { return state.markers[id]; }); },
    here: function () { return state.here; },
  };

  // -- navigation: the app first, the web page if the app is not there ---------------------------

  function openApp(appUrl, webUrl) {
    var timer = setTimeout(function () {
      // Still here and visible: no app took over, so open the web page instead.
      if (document.visibilityState === "visible") window.location.href = webUrl;
    }, APP_FALLBACK_MS);
    function cancel() { clearTimeout(timer); }
    document.addEventListener("visibilitychange", cancel, { once: true });
    window.addEventListener("pagehide", cancel, { once: true });
    window.location.href = appUrl;
  }

  function navLink(id, web, app) {
    var a = $(id);
    a.href = web;
    a.dataset.app = app;
  }

  function openNavigation(result) {
    var nav = result.navigation;
    $("nav-name").textContent = result.name;
    navLink("nav-amap", nav.amap, nav.amap_app);
    navLink("nav-baidu", nav.baidu, nav.baidu_app);
    openDialog($("nav-dialog"));
  }

  ["nav-amap", "nav-baidu"].forEach(function (id) {
    $(id).addEventListener("click", function (e) {
      e.preventDefault();
      openApp(this.dataset.app, this.href);
    });
  });

  // -- problem reports --------------------------------------------------------------------------

  var reporting = null;

  function buildKinds() {
    var box = $("report-kinds");
    Object.keys(labels.feedback).forEach(function (kind, i) {
      var input = el("input", { type: "radio", name: "kind", value: kind, id: "kind-" + kind, required: true });
      if (i === 0) input.checked = true;
      box.appendChild(el("label", { className: "kind", htmlFor: "kind-" + kind }, input, labels.feedback[kind]));
    });
    $("note-max").textContent = String(labels.noteMax);
    $("report-note").maxLength = labels.noteMax;
  }

  function formMessage(text, ok) {
    var node = $("report-message");
    node.textContent = text;
    node.className = "form-message" + (ok ? " ok" : "");
    node.hidden = !text;
  }

  function openReport(result) {
    reporting = result;
    $("report-name").textContent = result.name;
    $("report-note").value = "";
    $("report-send").disabled = false;
    $("report-send").hidden = false;
    $("report-close").textContent = "取消";
    formMessage("");
    openDialog($("report-dialog"));
  }

  $("report-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!reporting) return;
    var kind = ($("report-form").querySelector("input[name=kind]:checked") || {}).value;
    var note = $("report-note").value.trim();
    if (kind === "other" && !note) {
      formMessage("选择“其他问题”时请写明是什么问题。");
      $("report-note").focus();
      return;
    }
    var station = reporting;
    $("report-send").disabled = true;
    formMessage("");
    fetchJSON("/v1/stations/" + station.id + "/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ kind: kind, note: note }),
    }).then(function (data) {
      formMessage(data.message || "已收到，谢谢！", true);
      if (data.receipt) {
        // The message asks the rider to note the receipt: it is shown here, as a link to
        // its page, and the sheet stays open until they close it (kept under 我的反馈 too).
        keepReceipt({ receipt: data.receipt, station_id: station.id, station_name: station.name,
          what: labels.feedback[kind] || kind, at: new Date().toISOString() });
        var node = $("report-message");
        node.appendChild(el("br"));
        node.appendChild(document.createTextNode("回执号（可查看处理进度）："));
        node.appendChild(el("a", { href: "/s/receipt/" + encodeURIComponent(data.receipt),
          className: "receipt-link", id: "report-receipt" }, data.receipt));
        $("report-send").hidden = true;
        $("report-close").textContent = "完成";
      } else {
        setTimeout(function () { closeDialog($("report-dialog")); }, 1200);
      }
      loadWarnings(state.results, state.seq);
    }, function (err) {
      $("report-send").disabled = false;
      if (err.status === 429) {
        var minutes = Math.max(1, Math.round(err.retryAfter / 60));
        formMessage("提交太频繁了，请 " + minutes + " 分钟后再试。");
      } else if (err.data && err.data.errors) {
        formMessage(err.data.errors.map(function (x) { return x.message; }).join("；"));
      } else {
        formMessage("提交失败：" + err.message + " 请稍后重试。");
      }
    });
  });

  // -- 我的反馈: receipts of reports and ratings, kept on this phone only (shared with /s/) ----------

  var RECEIPTS_KEY = "yizhan.receipts";

  function loadReceipts() {
    try {
      var list = JSON.parse(window.localStorage.getItem(RECEIPTS_KEY) || "[]");
      return Array.isArray(list) ? list.filter(function (r) { return r && typeof r.receipt === "string"; }) : [];
    } catch (e) {
      return [];
    }
  }

  function keepReceipt(entry) {
    var list = loadReceipts().filter(function (r) { return r.receipt !== entry.receipt; });
    list.unshift(entry);
    try { window.localStorage.setItem(RECEIPTS_KEY, JSON.stringify(list.slice(0, 20))); } catch (e) { /* not kept */ }
    showReceipts();
  }

  function showReceipts() {
    var box = $("receipts");
    var list = loadReceipts();
    box.textContent = "";
    list.forEach(function (r) {
      box.appendChild(el("li", null,
        el("a", { href: "/s/receipt/" + encodeURIComponent(r.receipt) }, "回执 " + r.receipt), " ",
        el("span", { className: "hint" }, [r.station_name, r.what].filter(Boolean).join(" · "))));
    });
    $("mine").hidden = !list.length;
  }

  // -- wiring --------------------------------------------------------------------------------------

  document.querySelectorAll("dialog [data-close]").forEach(function (button) {
    button.addEventListener("click", function () { closeDialog(button.closest("dialog")); });
  });
  document.querySelectorAll(".chip").forEach(function (chip) {
    chip.addEventListener("click", function () {
      chip.setAttribute("aria-pressed", chip.getAttribute("aria-pressed") === "true" ? "false" : "true");
      load();
    });
  });
  // -- 活动: what is on near the rider today and this week (GET /v1/events) -------------------

  var EVENTS_RADIUS_M = 5000;
  var eventsSeq = 0;

  function eventsShown() { return !$("panel-events").hidden; }

  function shanghai(iso) {
    // Wall-clock parts of an ISO time in Asia/Shanghai (the API gives +08:00 offsets).
    var d = new Date(iso);
    var parts = {};
    new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, year: "numeric", month: "numeric", day: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", weekday: "short" })
      .formatToParts(d).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }

  function eventTime(item) {
    var s = shanghai(item.start), e = shanghai(item.end);
    var day = dayNumber(new Date(item.start)) - dayNumber(new Date());
    var label = day === 0 ? "今天" : day === 1 ? "明天" : day === 2 ? "后天"
      : s.month + "月" + s.day + "日 " + s.weekday;
    var sameDay = s.year === e.year && s.month === e.month && s.day === e.day;
    return label + " " + s.hour + ":" + s.minute + "–" + (sameDay ? "" : e.month + "月" + e.day + "日 ") + e.hour + ":" + e.minute;
  }

  function eventCard(item) {
    var station = item.stations[0];
    var navButton = el("button", { type: "button", className: "btn btn-primary nav" }, "导航");
    navButton.addEventListener("click", function () { openNavigation(station); });
    var more = item.stations.length > 1 ? "等 " + item.stations.length + " 个驿站" : "";
    return el(
      "li",
      { className: "card event-card" + (item.on_now ? " on-now" : ""), dataset: { id: String(item.id) } },
      el("p", { className: "event-head" }, el("span", { className: "event-kind" }, item.kind_label),
        item.on_now ? el("span", { className: "badge badge-ok" }, "进行中") : null),
      el("h3", { className: "name" }, item.title),
      el("p", { className: "meta" }, el("strong", null, eventTime(item))),
      el("p", { className: "addr" }, station.name + more + " · " + metres(station.distance_m)),
      item.offer ? el("p", { className: "offer" }, "提供：" + item.offer + (item.while_supplies_last ? "（送完即止）" : "")) : null,
      item.audience ? el("p", { className: "audience" }, "面向：" + item.audience) : null,
      el("div", { className: "actions" }, navButton)
    );
  }

  function loadEvents() {
    if (!state.point) return;
    var seq = ++eventsSeq;
    var p = state.point;
    var url = "/v1/events?near=" + p.lon.toFixed(7) + "," + p.lat.toFixed(7) + "&crs=" + p.crs +
      "&radius_m=" + EVENTS_RADIUS_M + "&days=7&limit=100";
    show($("events-loading"), true);
    show($("events-error"), false);
    loadMobile();
    fetchJSON(url).then(function (data) {
      if (seq !== eventsSeq) return;
      show($("events-loading"), false);
      var today = dayNumber(new Date());
      var lists = { today: $("events-today"), week: $("events-week") };
      lists.today.textContent = "";
      lists.week.textContent = "";
      (data.items || []).forEach(function (item) {
        var todays = item.on_now || dayNumber(new Date(item.start)) === today;
        (todays ? lists.today : lists.week).appendChild(eventCard(item));
      });
      show($("events-today-empty"), !lists.today.childNodes.length);
      show($("events-week-empty"), !lists.week.childNodes.length);
    }, function (err) {
      if (seq !== eventsSeq) return;
      show($("events-loading"), false);
      $("events-error").textContent = "加载失败：" + err.message;
      show($("events-error"), true);
    });
  }

  // 流动驿站 near the rider and their next stops (GET /v1/events/mobile): shown when any.
  function mobileCard(item) {
    var stops = el("ul", { className: "stops" });
    item.stops.forEach(function (stop) {
      var go = el("button", { type: "button", className: "btn nav" }, "导航");
      go.addEventListener("click", function () {
        openNavigation({ name: item.name + "（" + stop.name + "）", navigation: stop.navigation });
      });
      var when = stop.end ? eventTime({ start: stop.start, end: stop.end }) : eventTime({ start: stop.start, end: stop.start });
      stops.appendChild(el("li", { className: "stop" + (stop.on_now ? " on-now" : "") },
        stop.on_now ? el("span", { className: "badge badge-ok" }, "在这里") : null,
        el("span", { className: "stop-name" }, stop.name + " · " + metres(stop.distance_m)),
        el("span", { className: "stop-when" }, when), go));
    });
    return el("li", { className: "card event-card mobile-card" }, el("h3", { className: "name" }, item.name), stops);
  }

  function loadMobile() {
    var p = state.point;
    var url = "/v1/events/mobile?near=" + p.lon.toFixed(7) + "," + p.lat.toFixed(7) + "&crs=" + p.crs;
    fetchJSON(url).then(function (data) {
      var list = $("mobile-list");
      list.textContent = "";
      (data.items || []).forEach(function (item) { list.appendChild(mobileCard(item)); });
      show($("mobile-section"), !!list.childNodes.length);
    }, function () { show($("mobile-section"), false); /* extra: the events stand without it */ });
  }

  function showTab(name) {
    var events = name === "events";
    $("tab-stations").setAttribute("aria-selected", events ? "false" : "true");
    $("tab-events").setAttribute("aria-selected", events ? "true" : "false");
    show($("panel-stations"), !events);
    show($("panel-events"), events);
    if (events) loadEvents();
    else if (state.map) state.map.invalidateSize();
  }

  $("tab-stations").addEventListener("click", function () { showTab("stations"); });
  $("tab-events").addEventListener("click", function () { showTab("events"); });
  $("retry").addEventListener("click", load);
  $("locate").addEventListener("click", locate);

  buildKinds();
  showReceipts();
  loadLeaflet();
  loadDistricts();
  locate();
})();
