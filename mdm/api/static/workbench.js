// The workbench's little JavaScript: keyboard moves in the inbox, bulk decisions, and the
// task page's buttons. Every decision goes through the REST API with the session's CSRF token.
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content;

  async function resolve(taskId, body) {
    const response = await fetch(`/api/v1/tasks/${taskId}/resolve`, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch (e) { /* no body */ }
    return { ok: response.ok, status: response.status, detail: detail };
  }

  // -- inbox ----------------------------------------------------------------------------------
  const rows = Array.from(document.querySelectorAll("table.tasks tbody tr"));
  if (rows.length) {
    let current = 0;
    const bulk = document.querySelector(".bulk");
    const mark = (i) => {
      rows.forEach((r) => r.classList.remove("current"));
      current = Math.max(0, Math.min(rows.length - 1, i));
      rows[current].classList.add("current");
      rows[current].scrollIntoView({ block: "nearest" });
    };
    const picked = () => rows.filter((r) => r.querySelector(".pick").checked);
    const refresh = () => {
      const n = picked().length;
      bulk.hidden = n === 0;
      bulk.querySelector(".n").textContent = n;
    };
    rows.forEach((row, i) => {
      row.addEventListener("click", (e) => {
        if (e.target.closest("input, a")) { refresh(); return; }
        location.href = row.dataset.href;
      });
      row.querySelector(".pick").addEventListener("change", refresh);
    });
    mark(0);
    document.addEventListener("keydown", (e) => {
      if (e.target.matches("input, select, textarea")) {
        if (e.key === "Escape") e.target.blur();
        return;
      }
      if (e.key === "j") mark(current + 1);
      else if (e.key === "k") mark(current - 1);
      else if (e.key === "x") { const box = rows[current].querySelector(".pick"); box.checked = !box.checked; refresh(); }
      else if (e.key === "Enter") location.href = rows[current].dataset.href;
      else if (e.key === "/") { e.preventDefault(); document.getElementById("search").focus(); }
      else return;
      e.preventDefault();
    });
    bulk.querySelectorAll("button[data-bulk]").forEach((button) => {
      button.addEventListener("click", async () => {
        const action = button.dataset.bulk;
        const reason = bulk.querySelector(".bulk-reason").value.trim();
        const results = await Promise.all(picked().map((r) => resolve(r.dataset.id, { action: action, reason: reason || null })));
        const failed = results.filter((r) => !r.ok);
        bulk.querySelector(".bulk-result").textContent = failed.length
          ? `${results.length - failed.length} ✓, ${failed.length} ✗: ${failed[0].detail}` : `${results.length} ✓`;
        if (!failed.length) setTimeout(() => location.reload(), 600);
      });
    });
  }

  // -- task page --------------------------------------------------------------------------------
  const actions = document.querySelector("section.actions");
  if (actions) {
    const result = actions.querySelector(".result");
    actions.querySelectorAll("button[data-action]").forEach((button) => {
      button.addEventListener("click", async (e) => {
        e.preventDefault();
        const body = { action: button.dataset.action };
        const reason = actions.querySelector("input.reason").value.trim();
        if (reason) body.reason = reason;
        if (body.action === "approve_edited") {
          body.values = {};
          actions.querySelectorAll("form.edit input").forEach((i) => { body.values[i.name] = i.value; });
        }
        button.disabled = true;
        const outcome = await resolve(actions.dataset.task, body);
        button.disabled = false;
        result.textContent = outcome.ok ? "✓" : `✗ ${outcome.status}: ${outcome.detail}`;
        if (outcome.ok) setTimeout(() => location.reload(), 600);
      });
    });
  }
  // -- users (admins) ---------------------------------------------------------------------------
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch (e) { /* no body */ }
    return { ok: response.ok, status: response.status, detail: detail };
  }
  document.querySelectorAll("button[data-disable]").forEach((button) => {
    button.addEventListener("click", async () => {
      const outcome = await post(`/api/v1/users/${encodeURIComponent(button.dataset.disable)}/disable`);
      if (outcome.ok) location.reload(); else button.textContent = `✗ ${outcome.detail}`;
    });
  });
  document.querySelectorAll("button[data-unlock]").forEach((button) => {
    button.addEventListener("click", async () => {
      const outcome = await post(`/api/v1/users/${encodeURIComponent(button.dataset.unlock)}/unlock`);
      if (outcome.ok) location.reload(); else button.textContent = `✗ ${outcome.detail}`;
    });
  });
  document.querySelectorAll("button[data-revoke]").forEach((button) => {
    button.addEventListener("click", async () => {
      const user = encodeURIComponent(button.dataset.revoke);
      const outcome = await post(`/api/v1/users/${user}/tokens/${button.dataset.tokenId}/revoke`);
      if (outcome.ok) location.reload(); else button.textContent = `✗ ${outcome.detail}`;
    });
  });
  const addUser = document.querySelector("form.add-user");
  if (addUser) {
    addUser.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(addUser).entries());
      if (!data.password) delete data.password;
      if (!data.display_name) delete data.display_name;
      const outcome = await post("/api/v1/users", data);
      addUser.querySelector(".result").textContent = outcome.ok ? "✓" : `✗ ${outcome.status}: ${outcome.detail}`;
      if (outcome.ok) setTimeout(() => location.reload(), 500);
    });
  }
})();
