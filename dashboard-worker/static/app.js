// Progressive enhancement for the live log: without JavaScript the page
// refreshes itself (<noscript><meta http-equiv=refresh>); with it, new lines
// arrive over server-sent events and are added at the top. Text is set with
// textContent only, never as HTML.
(function () {
  "use strict";
  var table = document.getElementById("log-table");
  var status = document.getElementById("live-status");
  if (!table || !window.EventSource) { return; }
  var url = table.getAttribute("data-stream");
  if (!url) { return; }
  var body = document.getElementById("log-rows");
  var MAX_ROWS = 500;

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    return td;
  }

  function addLine(line) {
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.className = "fresh level-" + line.level;
    tr.appendChild(cell(String(line.id), "num"));
    tr.appendChild(cell(line.at));
    var level = cell("");
    var badge = document.createElement("span");
    badge.className = "badge " + line.level;
    badge.textContent = line.level;
    level.appendChild(badge);
    tr.appendChild(level);
    tr.appendChild(cell(line.source));
    tr.appendChild(cell(line.message));
    var fields = cell("");
    var code = document.createElement("code");
    code.textContent = line.fields;
    fields.appendChild(code);
    tr.appendChild(fields);
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) { body.deleteRow(body.rows.length - 1); }
  }

  var source = new EventSource(url);
  source.addEventListener("open", function () {
    if (status) { status.textContent = "Live: new lines appear at the top as they are written."; }
  });
  source.addEventListener("log", function (event) {
    try { addLine(JSON.parse(event.data)); } catch (e) { /* ignore a malformed line */ }
  });
  source.addEventListener("trouble", function (event) {
    if (status) { status.textContent = event.data; }
  });
  source.addEventListener("error", function () {
    if (status) { status.textContent = "Reconnecting to the live log…"; }
  });
})();
