// Every page: destructive buttons ask first (data-confirm), bulk buttons
// (data-bulk) work through their jobs a chunk a request with progress, and
// the jobs list's header checkbox selects the whole page.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-confirm]");
    if (b && !window.confirm(b.getAttribute("data-confirm"))) { e.preventDefault(); return; }
    if (b && b.hasAttribute("data-bulk")) { e.preventDefault(); bulk(b); }
  });

  // bulk posts the button's form to its formaction until the server says
  // no job is left, or a request changed none.
  function bulk(b) {
    var form = b.form, out = document.getElementById("bulk-progress");
    var body = new URLSearchParams(new FormData(form));
    var total = 0;
    form.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
    window.taskflowRefreshPaused = true;
    function step() {
      fetch(b.getAttribute("formaction"), { method: "POST", credentials: "same-origin", body: body,
        headers: { Accept: "application/json" } })
        .then(function (resp) {
          if (!resp.ok) { throw new Error("HTTP " + resp.status); }
          return resp.json();
        })
        .then(function (r) {
          total += r.done;
          out.textContent = (r.more ? "Working: " : "Done: ") + total.toLocaleString() + " job(s) so far. " + r.msg;
          out.setAttribute("data-done", String(total));
          if (r.more && r.ok) { step(); return; }
          out.setAttribute("data-finished", "true");
          out.textContent = (r.ok ? "Done: " : "Stopped: ") + total.toLocaleString() + " job(s) changed. " + (r.ok ? "" : r.msg);
          window.taskflowRefreshPaused = false;
        })
        .catch(function (err) { out.textContent = "Stopped after " + total.toLocaleString() + " job(s): " + err; out.setAttribute("data-finished", "true"); });
    }
    out.textContent = "Working…";
    step();
  }
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
          if (el) { el.textContent = d.jobs[st].toLocaleString("en-US"); }
        });
        document.querySelectorAll(".count").forEach(function (el) {
          if (!(d.jobs && el.getAttribute("data-state") in d.jobs)) { el.textContent = "0"; }
        });
        document.querySelectorAll(".split-count").forEach(function (el) {
          var n = d[el.getAttribute("data-split")];
          if (typeof n === "number") { el.textContent = n.toLocaleString("en-US"); }
        });
        last = d;
        svg.setAttribute("data-polls", String(++polls));
      })
      .catch(function (e) { svg.setAttribute("data-error", String(e)); })
      .finally(function () { setTimeout(poll, every); });
  }
  poll();
})();

// Times: each <time> shows the browser's zone (its title keeps UTC), and
// relative ones (data-relative) stay current.
(function () {
  "use strict";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function local(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function ago(d) {
    var s = Math.round((Date.now() - d.getTime()) / 1000), future = s < 0, a = Math.abs(s), t;
    if (a < 60) { t = a + "s"; } else if (a < 3600) { t = Math.floor(a / 60) + "m" + pad(a % 60) + "s"; }
    else if (a < 86400) { t = Math.floor(a / 3600) + "h" + pad(Math.floor(a % 3600 / 60)) + "m"; }
    else { t = Math.floor(a / 86400) + "d" + Math.floor(a % 86400 / 3600) + "h"; }
    return future ? "in " + t : t + " ago";
  }
  function render() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) { return; }
      el.textContent = el.hasAttribute("data-relative") ? ago(d) : local(d);
      el.setAttribute("data-local", local(d));
    });
  }
  render();
  setInterval(render, 1000);
})();

// The refresh control: reloads the page every 5 or 30 seconds, as chosen
// (kept for the session), never while the tab is hidden, a bulk action
// runs, or a box is ticked.
(function () {
  "use strict";
  var sel = document.getElementById("refresh");
  if (!sel) { return; }
  var key = "taskflow-refresh";
  var every = parseInt(sessionStorage.getItem(key) || "0", 10) || 0;
  sel.value = String(every);
  var due = 0;
  function arm() { due = every > 0 ? Date.now() + every * 1000 : 0; document.body.setAttribute("data-refresh", String(every)); }
  sel.addEventListener("change", function () {
    every = parseInt(sel.value, 10) || 0;
    sessionStorage.setItem(key, String(every));
    arm();
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { arm(); } });
  arm();
  setInterval(function () {
    if (!due || document.hidden || window.taskflowRefreshPaused || Date.now() < due) { return; }
    if (document.querySelector('input[type="checkbox"]:checked')) { arm(); return; }
    location.reload();
  }, 250);
})();
