// The planners' tables: sort by a column when its header is clicked (numbers as numbers,
// names in Chinese order; "—" last; first click ascending, so laggards come first). Attached here: the CSP refuses inline handlers.
"use strict";
(function () {
  const collator = new Intl.Collator("zh-CN");

  function key(cell, kind) {
    const raw = cell ? cell.dataset.sort : "";
    if (raw === undefined || raw === "") return null;
    if (kind === "text" || kind === "date") return raw;
    const n = Number(raw);
    return Number.isNaN(n) ? raw : n;
  }

  function sortBy(table, th) {
    const index = Array.prototype.indexOf.call(th.parentNode.children, th);
    const kind = th.dataset.kind;
    // First click ascending (the laggards first), the next one descending.
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = key(a.cells[index], kind);
      const y = key(b.cells[index], kind);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      const order = typeof x === "number" && typeof y === "number"
        ? x - y : collator.compare(String(x), String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("th[aria-sort]").forEach(function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th button.sort").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(table, button.parentNode); });
    });
  });
})();
