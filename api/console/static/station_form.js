// The station form's live checks: the hours as typed, read by the server; the position in
// the chosen system, converted by the server (GCJ-02 shown for checking in Amap) and set by
// typing or by dragging the marker. Nothing is converted here; text goes in as text.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("form-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var lonIn = $("f-lon"), latIn = $("f-lat"), crsIn = $("f-crs"), hoursIn = $("f-hours");
  var tiles = data.tiles[0];
  var drawnIn = (tiles && tiles.drawn_in) || "wgs84";
  var map = null, marker = null, last = null;

  function getJSON(url) {
    // Any failure (a number out of range, signed out) reads as a refusal, in Chinese.
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (doc) { return doc && typeof doc.ok === "boolean" ? doc : { ok: false, error: "无法检查，请检查填写的数字" }; })
      .catch(function () { return { ok: false, error: "无法检查：请检查填写的数字，或刷新页面重新登录" }; });
  }

  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  // -- hours ---------------------------------------------------------------------------
  var preview = $("hours-preview");
  function showHours() {
    var text = hoursIn.value;
    if (!text.trim()) {
      preview.classList.remove("bad");
      preview.textContent = "填写后这里显示系统如何理解，例：周一至周五 9:00-18:00、每天 8:00-20:00、24小时";
      return;
    }
    getJSON("/console/api/hours?text=" + encodeURIComponent(text)).then(function (r) {
      if (hoursIn.value !== text) return; // typed on meanwhile
      preview.textContent = "";
      preview.classList.toggle("bad", !r.ok);
      if (!r.ok) { preview.textContent = r.error; return; }
      var head = document.createElement("div");
      var b = document.createElement("b");
      b.textContent = r.description;
      head.appendChild(b);
      head.appendChild(document.createTextNode("　记为 " + r.osm));
      preview.appendChild(head);
      if (r.summary) {
        var sum = document.createElement("div");
        sum.textContent = r.summary;
        preview.appendChild(sum);
      }
      if (r.note) {
        var note = document.createElement("div");
        note.className = "small";
        note.textContent = "说明：" + r.note;
        preview.appendChild(note);
      }
      var list = document.createElement("ul");
      r.week.forEach(function (d) {
        var li = document.createElement("li");
        li.textContent = d.day + "：" + d.open;
        list.appendChild(li);
      });
      preview.appendChild(list);
    });
  }
  hoursIn.addEventListener("input", debounce(showHours, 300));
  showHours();

  // -- position ------------------------------------------------------------------------
  var gcj = $("gcj-value"), note = $("position-note"), districtName = $("district-name");
  function pinOptions() {
    // Our own pin (CSS), not Leaflet's image files.
    var icon = window.L.divIcon({ className: "pin", html: "<span></span>", iconSize: [22, 22], iconAnchor: [11, 22] });
    return { draggable: true, title: "拖动设置位置", icon: icon, autoPan: true };
  }
  function fmt(v) { return v.toFixed(6); }

  function show(r, moveMarker) {
    last = r;
    gcj.textContent = fmt(r.gcj02.lon) + ", " + fmt(r.gcj02.lat);
    note.textContent = r.district ? "位于 " + r.district.name : "不在任何区县内";
    if (districtName && r.district) districtName.textContent = r.district.name;
    var at = r[drawnIn];
    if (map && at) {
      var ll = [at.lat, at.lon];
      if (!marker) {
        marker = window.L.marker(ll, pinOptions()).addTo(map);
        marker.on("dragend", function () { moved(marker.getLatLng()); });
        map.setView(ll, 16);
        fitStops();
      } else if (moveMarker) {
        marker.setLatLng(ll);
        map.panTo(ll);
      }
    }
  }

  function ask(lon, lat, crs) {
    return getJSON("/console/api/position?lon=" + encodeURIComponent(lon) + "&lat=" + encodeURIComponent(lat) + "&crs=" + encodeURIComponent(crs));
  }

  function typed() {
    var lon = parseFloat(lonIn.value), lat = parseFloat(latIn.value);
    if (!isFinite(lon) || !isFinite(lat)) { gcj.textContent = "—"; note.textContent = ""; return; }
    ask(lon, lat, crsIn.value).then(function (r) {
      if (!r.ok) { gcj.textContent = "—"; note.textContent = r.error; return; }
      show(r, true);
    });
  }

  function fill(r) {
    var here = r[crsIn.value];
    lonIn.value = here.lon.toFixed(7).replace(/0+$/, "").replace(/\.$/, "");
    latIn.value = here.lat.toFixed(7).replace(/0+$/, "").replace(/\.$/, "");
  }

  function moved(latlng) {
    // A point on these tiles, in their system: the server gives it in every system.
    ask(latlng.lng, latlng.lat, drawnIn).then(function (r) {
      if (!r.ok) { note.textContent = r.error; return; }
      fill(r);
      show(r, false);
    });
  }

  crsIn.addEventListener("change", function () {
    // 坐标系 says which system the numbers above are in: the same numbers, read in the
    // newly chosen one (a clerk who picked BD-09 for Amap's numbers corrects it here; the
    // numbers are never rewritten behind their back). The marker moves to where they are.
    var lon = parseFloat(lonIn.value), lat = parseFloat(latIn.value);
    if (!isFinite(lon) || !isFinite(lat)) return;
    ask(lon, lat, crsIn.value).then(function (r) {
      if (!r.ok) { gcj.textContent = "—"; note.textContent = r.error; return; }
      show(r, true);
      note.textContent += "。已按“" + crsIn.options[crsIn.selectedIndex].text +
        "”理解上面的经纬度（数字未改），请核对标记和高德坐标";
    });
  });
  // A pair pasted into one box, as the map pickers copy it ("106.5772,29.557"): split
  // into the two boxes in the order pasted (a reversed pair is refused, saying so). Only
  // when the box is left, both numbers with decimals: "106,5" is not split while typing.
  var PAIR = /^\s*(-?\d+\.\d+)\s*[,，、\s]\s*(-?\d+\.\d+)\s*$/;
  function leave() {
    var m = PAIR.exec(this.value);
    if (m) { lonIn.value = m[1]; latIn.value = m[2]; }
    typed();
  }
  lonIn.addEventListener("change", leave);
  latIn.addEventListener("change", leave);

  if (window.L && $("map")) {
    map = window.L.map("map", { attributionControl: false }).setView([29.56, 106.55], 11);
    if (tiles) {
      tiles.urls.forEach(function (url) {
        window.L.tileLayer(url, { maxZoom: tiles.max_zoom, maxNativeZoom: tiles.max_zoom, subdomains: tiles.subdomains || "abc" }).addTo(map);
      });
    }
    map.on("click", function (e) {
      if (!marker) {
        marker = window.L.marker(e.latlng, pinOptions()).addTo(map);
        marker.on("dragend", function () { moved(marker.getLatLng()); });
      } else {
        marker.setLatLng(e.latlng);
      }
      moved(e.latlng);
    });
  }
  typed();

  // -- a mobile station's stops (流动驿站) ------------------------------------------------
  // The box's text is read by the server with the rules a save applies; its stops are
  // drawn on the map as numbered dots (names as text), its problems shown under the box.
  var stopsIn = $("f-stops"), stopsOut = $("stops-preview"), mobileIn = document.querySelector("input[name=mobile]");
  var csrfIn = document.querySelector("#station-form input[name=csrf]"), ownerIn = $("f-owner");
  var stopLayer = (map && window.L) ? window.L.layerGroup().addTo(map) : null;
  var fitted = false, stopPoints = [];

  function fitStops() {
    // Once: the base and its stops in view, when both are known (a form without a
    // position has only the stops).
    if (fitted || !map || !stopPoints.length || (!marker && lonIn.value.trim())) return;
    fitted = true;
    var points = stopPoints.slice();
    if (marker) points.push(marker.getLatLng());
    map.fitBounds(window.L.latLngBounds(points), { padding: [30, 30], maxZoom: 16 });
  }

  function postForm(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, { method: "POST", credentials: "same-origin", body: body, headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (doc) { return doc && typeof doc.ok === "boolean" ? doc : { ok: false, problems: ["无法检查停靠点，请刷新页面重新登录"], stops: [] }; })
      .catch(function () { return { ok: false, problems: ["无法检查停靠点：请刷新页面重新登录"], stops: [] }; });
  }

  function drawStops(stops) {
    if (!stopLayer) return;
    stopLayer.clearLayers();
    var points = [];
    stops.forEach(function (s, i) {
      var at = s[drawnIn];
      if (!at) return;
      var ll = [at.lat, at.lon];
      points.push(ll);
      var label = document.createElement("span");
      label.className = "stop-dot-label";
      label.textContent = (i + 1) + " " + s.name;
      window.L.circleMarker(ll, { radius: 7, color: "#1d4ed8", weight: 2, fillColor: "#60a5fa", fillOpacity: 0.9 })
        .bindTooltip(label, { permanent: true, direction: "right", offset: [8, 0] })
        .addTo(stopLayer);
    });
    stopPoints = points;
    fitStops();
  }

  function checkStops() {
    if (!stopsIn || !stopsOut) return;
    var text = stopsIn.value, crs = crsIn.value;
    if (!text.trim()) {
      stopsOut.textContent = "";
      stopsOut.classList.remove("bad");
      drawStops([]);
      return;
    }
    var fields = { stops: text, crs: crs, csrf: csrfIn ? csrfIn.value : "", station_id: data.station_id || "" };
    if (ownerIn) fields.owner = ownerIn.value;
    postForm("/console/api/stops", fields).then(function (r) {
      if (stopsIn.value !== text || crsIn.value !== crs) return; // typed on meanwhile
      stopsOut.textContent = "";
      stopsOut.classList.toggle("bad", !r.ok);
      if (!r.ok) {
        (r.problems || []).forEach(function (m) {
          var line = document.createElement("div");
          line.textContent = m;
          stopsOut.appendChild(line);
        });
      } else {
        var head = document.createElement("div");
        head.textContent = r.stops.length + " 个停靠点，时间互不重叠" + (mobileIn && !mobileIn.checked ? "（请勾选“流动驿站”）" : "");
        stopsOut.appendChild(head);
        var list = document.createElement("ol");
        r.stops.forEach(function (s) {
          var li = document.createElement("li");
          li.textContent = s.name + " · " + s.hours + "（记为 " + s.osm + "）" + (s.district ? " · " + s.district : "");
          list.appendChild(li);
        });
        stopsOut.appendChild(list);
        (r.warnings || []).forEach(function (m) {
          var w = document.createElement("div");
          w.className = "small muted";
          w.textContent = m;
          stopsOut.appendChild(w);
        });
      }
      drawStops(r.stops || []);
    });
  }
  if (stopsIn) {
    stopsIn.addEventListener("input", debounce(checkStops, 500));
    crsIn.addEventListener("change", checkStops);
    if (mobileIn) mobileIn.addEventListener("change", checkStops);
    checkStops();
  }
})();
