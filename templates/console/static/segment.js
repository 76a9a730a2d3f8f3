// The settings form's live audience count: as the category, language or conditions change,
// ask the server how many contacts match (a number only) and show it. Without JavaScript the
// count is as of the page's loading, and saving the settings shows the new one.
(function () {
  "use strict";
  var box = document.getElementById("segment");
  var out = document.getElementById("segment-count");
  if (!box || !out) return;
  var form = box.closest("form");
  var timer = null;
  var asked = 0;

  function refresh() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token" && typeof value === "string") params.append(name, value);
    });
    var mine = ++asked;
    fetch(box.dataset.countUrl + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== asked) return; // an older answer arriving late
        out.textContent = data.count !== null ? data.count : "—";
        out.title = data.problems ? Object.values(data.problems).join(" ") : "";
      })
      .catch(function () { /* keep the last count; the next change asks again */ });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
})();
