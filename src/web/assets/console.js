// The operator console: polls /admin/api/state, sends actions with the session's CSRF token.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const text = (tag, t, cls) => { const e = document.createElement(tag); e.textContent = t == null ? "" : String(t); if (cls) e.className = cls; return e; };
  const actions = { Held: ["approve", "reject"], Failed: ["retry", "drop"], Done: ["story"], Captured: ["drop"], Rejected: ["drop"], Private: ["drop"] };

  async function act(id, action) {
    const r = await fetch(`/admin/api/jobs/${id}/${action}`, { method: "POST", headers: { "X-CSRF-Token": csrf } });
    if (!r.ok) {
      let why = r.statusText;
      try { why = (await r.json()).error || why; } catch (e) { /* plain text */ }
      alert(action + ": " + why);
    }
    refresh();
  }

  function render(s) {
    const stats = $("stats");
    stats.replaceChildren(
      text("span", `screen: ${s.screen.join(" ")}`),
      text("span", `posts left today: ${s.posts_left == null ? "?" : s.posts_left}${s.quota_total ? " of " + s.quota_total : ""}`),
      text("span", `token: ${s.token_days_left == null ? "?" : s.token_days_left + " days left"}`),
      text("span", `disk free: ${s.disk_free_mib == null ? "?" : s.disk_free_mib + " MiB"}`),
      text("span", `waiting: ${s.waiting}, held: ${s.held}, review: ${s.review}`));
    $("checks").replaceChildren(...s.checks.map((c) => {
      const tr = document.createElement("tr");
      tr.append(text("td", c.ok ? "ok" : "FAIL", c.ok ? "ok" : "bad"), text("td", c.name), text("td", c.message));
      return tr;
    }));
    const body = $("queue").querySelector("tbody");
    body.replaceChildren(...s.jobs.map((j) => {
      const tr = document.createElement("tr");
      tr.dataset.id = j.id;
      tr.dataset.state = j.state;
      const buttons = document.createElement("td");
      for (const a of actions[j.state] || []) {
        const b = text("button", a, "small");
        b.dataset.action = a;
        b.addEventListener("click", () => act(j.id, a));
        buttons.append(b);
      }
      tr.append(text("td", j.id.slice(0, 8)), text("td", j.state, "state"), text("td", j.kind), text("td", j.attempts),
        text("td", j.error || j.permalink || ""), buttons);
      return tr;
    }));
    $("gallery").replaceChildren(...s.jobs.filter((j) => j.kind === "photo").slice(0, 24).map((j) => {
      const img = document.createElement("img");
      img.src = j.photo; img.alt = j.state; img.loading = "lazy";
      return img;
    }));
    $("log").textContent = s.log.join("\n");
  }

  async function refresh() {
    const r = await fetch("/admin/api/state");
    if (r.status === 401) { location.href = "/admin"; return; }
    if (r.ok) render(await r.json());
  }

  // `postbooth doctor`'s checks, on demand: a run asks Instagram and lists the cameras.
  $("doctor-run").addEventListener("click", async () => {
    $("doctor-at").textContent = "running…";
    const r = await fetch("/admin/api/doctor");
    if (r.status === 401) { location.href = "/admin"; return; }
    if (!r.ok) { $("doctor-at").textContent = "failed: " + r.statusText; return; }
    const d = await r.json();
    const mark = { ok: "ok", warn: "WARN", fail: "FAIL" };
    $("doctor").replaceChildren(...d.checks.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.name = c.name;
      tr.dataset.verdict = c.verdict;
      tr.append(text("td", mark[c.verdict] || c.verdict, c.verdict === "ok" ? "ok" : "bad"), text("td", c.name), text("td", c.message));
      return tr;
    }));
    $("doctor-at").textContent = "as of " + new Date(d.ran_at_ms).toLocaleTimeString();
  });

  $("logout-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    await fetch("/admin/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } });
    location.href = "/admin";
  });
  refresh();
  setInterval(refresh, 3000);
})();
