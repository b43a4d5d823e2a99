"""The instructor's page: a table of participants and workshop steps, refreshed every few
seconds from /_workshop/class/status. It shows names, account ids, steps, call and error
counts: never an access key, a secret, key material, a data key or plaintext (the status
it reads has none of them)."""

from __future__ import annotations

REFRESH_MS = 3000

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KMS workshop: the class</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: center; }
td.name { text-align: left; font-weight: bold; } td.done { background: #d9f2d9; } td.todo { color: #999; }
#updated { color: #666; font-size: .9em; }
</style></head>
<body>
<h1>KMS workshop: the class</h1>
<p id="updated">loading&hellip;</p>
<table id="class"><thead><tr id="head"><th>participant</th><th>account</th></tr></thead><tbody></tbody></table>
<p>Steps come from each account's own state and from the names and outcomes of the calls it
made to this endpoint; parameters, keys and plaintext are never recorded.</p>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
function cell(row, text, cls) { const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; row.appendChild(td); return td; }
async function refresh() {
  try {
    const r = await fetch("PREFIX/status", {headers: {"X-Kms-Workshop-Token": token}, cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    const data = await r.json();
    const head = document.getElementById("head");
    head.replaceChildren();
    for (const t of ["participant", "account"]) { const th = document.createElement("th"); th.textContent = t; head.appendChild(th); }
    for (const s of data.steps) { const th = document.createElement("th"); th.textContent = s.label; th.title = s.derived_from; head.appendChild(th); }
    for (const t of ["calls", "errors"]) { const th = document.createElement("th"); th.textContent = t; head.appendChild(th); }
    const body = document.querySelector("#class tbody");
    body.replaceChildren();
    for (const p of data.participants) {
      const row = document.createElement("tr"); row.dataset.participant = p.name;
      cell(row, p.name, "name"); cell(row, p.account_id);
      for (const s of data.steps) { const done = p.steps[s.id];
        const td = cell(row, done ? "\\u2713" : "\\u00b7", done ? "done" : "todo"); td.dataset.step = s.id; }
      cell(row, String(p.calls)); cell(row, String(p.errors));
      body.appendChild(row);
    }
    document.getElementById("updated").textContent = data.participants.length + " participants, updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "cannot refresh: " + e.message;
  }
}
refresh(); setInterval(refresh, REFRESH_MS);
</script></body></html>
"""


def page(prefix: str) -> str:
    """The page, fetching its data from `prefix`/status (the instructor routes' prefix)."""
    return _PAGE.replace("PREFIX", prefix).replace("REFRESH_MS", str(REFRESH_MS))
