// Jewel Vision admin: a table with one current row, moved by j/k (review queue, labelling).
window.jvRows = function (table, selector) {
  const cursor = { current: 0 };
  cursor.rows = () => Array.from(table.querySelectorAll(selector));
  cursor.focus = (i) => {
    const all = cursor.rows();
    if (!all.length) return;
    cursor.current = Math.max(0, Math.min(i, all.length - 1));
    all.forEach((r, k) => r.classList.toggle("jv-current", k === cursor.current));
    all[cursor.current].scrollIntoView({ block: "nearest" });
  };
  cursor.row = () => cursor.rows()[cursor.current];
  table.addEventListener("click", (event) => {
    const tr = event.target.closest(selector);
    if (tr) cursor.focus(cursor.rows().indexOf(tr));
  });
  cursor.focus(0);
  return cursor;
};
