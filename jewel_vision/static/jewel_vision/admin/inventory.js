// Jewel Vision inventory: charts of tag confidence per facet and analyses per day (Chart.js, from static files).
(function () {
  const source = document.getElementById("jv-inventory-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const css = getComputedStyle(document.documentElement);
  Chart.defaults.color = css.getPropertyValue("--body-fg").trim() || "#333";
  window.jvCharts = {};
  const facets = Object.keys(data.confidence.facets);
  window.jvCharts.confidence = new Chart(document.getElementById("jv-chart-confidence"), {
    type: "bar",
    data: {
      labels: data.confidence.labels,
      datasets: facets.map((f) => ({ label: f, data: data.confidence.facets[f] })),
    },
    options: { maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: "confidence from" } } } },
  });
  window.jvCharts.daily = new Chart(document.getElementById("jv-chart-daily"), {
    data: {
      labels: data.daily.map((d) => d.day),
      datasets: [
        { type: "bar", label: "done", data: data.daily.map((d) => d.done), stack: "a", yAxisID: "y" },
        { type: "bar", label: "failed", data: data.daily.map((d) => d.failed), stack: "a", yAxisID: "y" },
        { type: "line", label: "failure rate %", data: data.daily.map((d) => 100 * d.failure_rate), yAxisID: "rate" },
      ],
    },
    options: {
      maintainAspectRatio: false, animation: false,
      scales: { y: { stacked: true, beginAtZero: true }, rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } } },
    },
  });
})();
