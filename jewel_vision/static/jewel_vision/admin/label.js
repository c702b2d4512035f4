// Jewel Vision labelling: j/k move between products, a digit gives the product the value with that number.
(function () {
  const table = document.getElementById("jv-label");
  const form = document.getElementById("jv-label-form");
  if (!table || !form) return;
  const values = form.dataset.values ? form.dataset.values.split("|") : [];
  const cursor = window.jvRows(table, "tbody tr[data-product]");
  const rows = cursor.rows;
  const focusRow = cursor.focus;
  async function label(tr, value) {
    const body = new FormData(form);
    body.append("facet", form.dataset.facet);
    body.append("product", tr.dataset.product);
    body.append("value", value);
    const response = await fetch(window.location.pathname, { method: "POST", body, credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    const cell = tr.querySelector(".jv-label-value");
    if (!response.ok) { cell.textContent = data.error || `error ${response.status}`; return; }
    cell.textContent = value;
    tr.classList.add("jv-decided");
  }
  document.addEventListener("keydown", (event) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const all = rows();
    if (!all.length) return;
    if (event.key === "j") focusRow(cursor.current + 1);
    else if (event.key === "k") focusRow(cursor.current - 1);
    else if (/^[1-9]$/.test(event.key) && values[Number(event.key) - 1]) {
      const tr = all[cursor.current];
      label(tr, values[Number(event.key) - 1]).then(() => focusRow(cursor.current + 1));
    } else return;
    event.preventDefault();
  });
})();
