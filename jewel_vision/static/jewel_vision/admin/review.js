// Jewel Vision review queue: j/k move, a accept, r reject, c correct (Enter saves), x select; bulk buttons.
(function () {
  const table = document.getElementById("jv-queue");
  const form = document.getElementById("jv-queue-form");
  if (!table || !form) return;
  const cursor = window.jvRows(table, "tbody tr[data-id]");
  const rows = cursor.rows;
  const focusRow = cursor.focus;

  function nextUndecided(from) {
    const all = rows();
    for (let k = from + 1; k < all.length; k++) if (!all[k].classList.contains("jv-decided")) return k;
    return Math.min(from + 1, all.length - 1);
  }

  async function decide(action, trs, value) {
    const body = new FormData(form);
    body.append("action", action);
    trs.forEach((tr) => body.append("id", tr.dataset.id));
    if (value !== undefined) body.append("value", value);
    const response = await fetch(form.dataset.decideUrl, { method: "POST", body, credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      trs.forEach((tr) => (tr.querySelector(".jv-decision").textContent = data.error || `error ${response.status}`));
      return;
    }
    for (const d of data.decisions) {
      const tr = table.querySelector(`tr[data-id="${d.id}"]`);
      if (!tr) continue;
      tr.classList.add("jv-decided");
      tr.dataset.state = d.action === "correct" ? "corrected" : d.state;
      const when = d.at ? new Date(d.at).toLocaleString() : "";
      const what = d.action === "correct" ? `corrected to ${d.tag}` : d.state;
      tr.querySelector(".jv-decision").textContent = `${what} by ${d.by}, ${when}`;
      const box = tr.querySelector(".jv-select");
      if (box) box.checked = false;
    }
    updateSelected();
  }

  function updateSelected() {
    const n = table.querySelectorAll(".jv-select:checked").length;
    const label = document.querySelector("[data-jv-selected]");
    if (label) label.textContent = `${n} selected`;
  }

  document.addEventListener("keydown", (event) => {
    if (event.target.classList && event.target.classList.contains("jv-correct")) {
      if (event.key === "Enter") {
        event.preventDefault();
        const tr = event.target.closest("tr");
        const value = event.target.value.trim();
        if (value) decide("correct", [tr], value).then(() => { event.target.blur(); focusRow(nextUndecided(cursor.current)); });
      } else if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName) && event.target.type !== "checkbox") return;
    const all = rows();
    if (!all.length) return;
    const tr = all[cursor.current];
    switch (event.key) {
      case "j": focusRow(cursor.current + 1); break;
      case "k": focusRow(cursor.current - 1); break;
      case "a": decide("accept", [tr]).then(() => focusRow(nextUndecided(cursor.current))); break;
      case "r": decide("reject", [tr]).then(() => focusRow(nextUndecided(cursor.current))); break;
      case "c": {
        const input = tr.querySelector(".jv-correct");
        if (input) { event.preventDefault(); input.focus(); }
        break;
      }
      case "x": {
        const box = tr.querySelector(".jv-select");
        if (box) { box.checked = !box.checked; updateSelected(); }
        break;
      }
      default: return;
    }
    event.preventDefault();
  });

  table.addEventListener("click", (event) => {
    if (event.target.classList.contains("jv-select")) updateSelected();
  });

  document.querySelectorAll("[data-jv-bulk]").forEach((button) =>
    button.addEventListener("click", () => {
      const trs = Array.from(table.querySelectorAll(".jv-select:checked")).map((b) => b.closest("tr"));
      if (trs.length) decide(button.dataset.jvBulk, trs);
    })
  );
})();
