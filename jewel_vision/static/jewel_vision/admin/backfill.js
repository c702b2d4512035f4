// Jewel Vision backfill: the live progress bar (polls the run's progress.json every second until it ends).
(function () {
  const root = document.querySelector("[data-jv-backfill]");
  if (!root) return;
  const bar = root.querySelector("[data-jv-bar]");
  const status = root.querySelector("[data-jv-status]");
  async function poll() {
    let p;
    try {
      const response = await fetch(root.dataset.url, { credentials: "same-origin" });
      p = await response.json();
    } catch (e) {
      setTimeout(poll, 2000);
      return;
    }
    bar.value = p.fraction;
    root.querySelector("[data-jv-text]").textContent = `${p.finished} / ${p.total} photos`;
    root.querySelector("[data-jv-counts]").textContent =
      `${p.done} analysed, ${p.failed} failed, ${p.skipped} already up to date, ${p.in_flight} in flight`;
    root.querySelector("[data-jv-state]").textContent = p.status;
    status.dataset.status = p.status;
    if (p.status === "done") {
      const rows = root.querySelector("[data-jv-summary-rows]");
      rows.replaceChildren(...Object.entries(p.summary).map(([k, v]) => {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        const td = document.createElement("td");
        th.textContent = k;
        td.textContent = v;
        tr.append(th, td);
        return tr;
      }));
      root.querySelector("[data-jv-summary]").hidden = false;
      return;
    }
    if (p.status === "running") setTimeout(poll, 1000);
  }
  poll();
})();
