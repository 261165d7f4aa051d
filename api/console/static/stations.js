// The union's stations on a map: the filtered set, drawn at the positions the server gave
// in the tiles' own system (no conversion here). Names go in as text, never as markup.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("stations-data").textContent);
  var L = window.L;
  var box = document.getElementById("map");
  if (!L || !box) return;
  var tiles = data.tiles[0];
  var map = L.map(box, { attributionControl: false }).setView([29.56, 106.55], 10);
  if (tiles) {
    tiles.urls.forEach(function (url) {
      L.tileLayer(url, { maxZoom: tiles.max_zoom, maxNativeZoom: tiles.max_zoom, subdomains: tiles.subdomains || "abc" }).addTo(map);
    });
    var credit = document.createElement("div");
    credit.className = "map-credit";
    credit.textContent = "地图 " + tiles.attribution;
    box.parentNode.insertBefore(credit, box.nextSibling);
  }
  var system = (tiles && tiles.drawn_in) || "wgs84";
  var bounds = [];
  data.points.forEach(function (p) {
    var at = p.drawn[system];
    if (!at) return;
    var marker = L.circleMarker([at[1], at[0]], { radius: 6, weight: 2, color: "#8c1d18", fillColor: "#b3261e", fillOpacity: 0.8 });
    var pop = document.createElement("div");
    var link = document.createElement("a");
    link.href = "/console/stations/" + encodeURIComponent(p.id);
    link.textContent = p.name;
    var line = document.createElement("div");
    line.className = "small";
    line.textContent = p.status + (p.address ? " · " + p.address : "");
    pop.appendChild(link);
    pop.appendChild(line);
    marker.bindPopup(pop);
    var tip = document.createElement("span");
    tip.textContent = p.name;
    marker.bindTooltip(tip, { direction: "top" });
    marker.addTo(map);
    bounds.push([at[1], at[0]]);
  });
  if (bounds.length === 1) map.setView(bounds[0], 15);
  else if (bounds.length > 1) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16 });
})();
