// Live progress on the campaign pages: poll once a second, update the bars and counts.
// Without JavaScript the pages show the progress as of their loading; reload to refresh.
(function () {
  "use strict";
  var FINAL = { done: true, cancelled: true };

  // The same words as the `duration` filter of the page (invites/console/display.py).
  function duration(seconds, basis) {
    if (seconds === null || seconds === undefined) return "\u2014";
    if (seconds === 0) return "none";
    var text;
    if (seconds < 60) text = seconds + " s";
    else if (seconds < 3600) text = Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    else text = Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
    return basis === "limit" ? "about " + text + " at the limit" : text;
  }

  function fill(root, p) {
    function set(part, value) {
      root.querySelectorAll('[data-part="' + part + '"]').forEach(function (el) {
        el.textContent = value;
      });
    }
    root.querySelectorAll('[data-part="bar"]').forEach(function (bar) {
      bar.max = Math.max(p.total, 1);
      bar.value = p.done;
      bar.textContent = p.percent + "%";
    });
    set("done", p.done);
    set("total", p.total);
    set("percent", p.percent);
    set("rate", p.rate === null ? "starting" : p.rate.toFixed(1) + "/s");
    set("rate-window", p.rate_window >= 60 || !p.rate_window ? "(last minute)" : "(last " + p.rate_window + " s)");
    set("limit", p.limit ? p.limit + "/s" : "no limit");
    set("eta", duration(p.eta_seconds, p.eta_basis));
    set("status", p.status);
    Object.keys(p.counts).forEach(function (name) { set(name, p.counts[name]); });
  }

  // Once a form is sent (Pause, Resume, ...), its answer is what the person waits for: a poll
  // that saw the state change (maybe by that very click) must not reload the page over it.
  var submitted = false;
  document.addEventListener("submit", function (e) { if (!e.defaultPrevented) submitted = true; });

  function poll(url, apply, current) {
    var timer = setInterval(function () {
      if (submitted) { clearInterval(timer); return; }
      fetch(current ? current() : url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data && apply(data) === false) clearInterval(timer); })
        .catch(function () { /* a missed poll: the next one catches up */ });
    }, 1000);
  }

  var one = document.querySelector("#progress[data-progress-url], #progress-watch[data-progress-url]");
  if (one) {
    var shown = one.getAttribute("data-status");
    poll(one.getAttribute("data-progress-url"), function (p) {
      fill(document, p);
      if (p.status !== shown && !submitted) {
        // The actions, the progress and the results depend on the state: show the page as it is now.
        window.location.reload();
        return false;
      }
      return true;
    });
  }

  var list = document.querySelector("#campaigns[data-progress-url]");
  if (list) {
    var live = {};
    list.querySelectorAll("tr[data-campaign]").forEach(function (row) {
      var status = row.querySelector('[data-part="status"]').textContent;
      if (!FINAL[status] && status !== "draft") live[row.getAttribute("data-campaign")] = row;
    });
    var base = list.getAttribute("data-progress-url");
    poll(base, function (all) {
      Object.keys(all).forEach(function (id) {
        if (!live[id]) return;
        fill(live[id], all[id]);
        if (FINAL[all[id].status]) delete live[id];  // its last, full bar is shown
      });
      return Object.keys(live).length > 0;
    }, function () { return base + "?ids=" + Object.keys(live).join(","); });
  }
})();
