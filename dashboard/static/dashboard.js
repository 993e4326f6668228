// Every page: destructive buttons ask first (data-confirm), and the jobs
// list's header checkbox selects the whole page.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-confirm]");
    if (b && !window.confirm(b.getAttribute("data-confirm"))) { e.preventDefault(); }
  });
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('#jobs input[type="checkbox"][name="id"]').forEach(function (c) { c.checked = all.checked; });
    });
  }
})();

// The overview's live graph: polls the live endpoint, plots succeeded and
// failed jobs per second and updates the counts per state. Served as a
// file: the Content-Security-Policy forbids inline script.
(function () {
  "use strict";
  var svg = document.getElementById("live");
  if (!svg) { return; }
  var url = svg.getAttribute("data-url");
  var every = parseInt(svg.getAttribute("data-interval"), 10) || 2000;
  var keep = 60; // points on the graph
  var last = null;
  var rates = []; // {s, f}: per second
  var polls = 0;

  function draw() {
    var top = 1;
    rates.forEach(function (r) { top = Math.max(top, r.s, r.f); });
    ["s", "f"].forEach(function (k) {
      var pts = rates.map(function (r, i) {
        var x = rates.length > 1 ? i * 600 / (keep - 1) : 0;
        return x.toFixed(1) + "," + (100 - 95 * r[k] / top).toFixed(1);
      });
      svg.querySelector(k === "s" ? "polyline.succeeded" : "polyline.failed").setAttribute("points", pts.join(" "));
    });
    var r = rates[rates.length - 1];
    document.getElementById("live-succeeded").textContent = r.s.toFixed(1);
    document.getElementById("live-failed").textContent = r.f.toFixed(1);
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, every); return; } // a tab out of sight asks the store nothing
    var q = last ? "?since=" + last.since : "";
    fetch(url + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("live: HTTP " + resp.status); }
        return resp.json();
      })
      .then(function (d) {
        if (last && d.since === last.since && d.now > last.now) {
          var dt = (d.now - last.now) / 1000;
          rates.push({ s: Math.max(0, d.succeeded - last.succeeded) / dt, f: Math.max(0, d.failed - last.failed) / dt });
          if (rates.length > keep) { rates.shift(); }
          svg.setAttribute("data-total-succeeded", (parseInt(svg.getAttribute("data-total-succeeded"), 10) || 0) + Math.max(0, d.succeeded - last.succeeded));
          draw();
        }
        Object.keys(d.jobs || {}).forEach(function (st) {
          var el = document.querySelector('.count[data-state="' + st + '"]');
          if (el) { el.textContent = String(d.jobs[st]); }
        });
        document.querySelectorAll(".count").forEach(function (el) {
          if (!(d.jobs && el.getAttribute("data-state") in d.jobs)) { el.textContent = "0"; }
        });
        last = d;
        svg.setAttribute("data-polls", String(++polls));
      })
      .catch(function (e) { svg.setAttribute("data-error", String(e)); })
      .finally(function () { setTimeout(poll, every); });
  }
  poll();
})();
