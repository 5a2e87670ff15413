// The pages' behaviour: no inline script anywhere (the content security policy forbids it).
"use strict";

// htmx requests carry the session's CSRF token.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) event.detail.headers["X-CSRF-Token"] = meta.content;
});

// Buttons with data-open="ID" open that <dialog>; data-close closes their own.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.open);
    if (dialog) dialog.showModal();
  }
  const closer = event.target.closest("[data-close]");
  if (closer) closer.closest("dialog").close();
});

// Charts: <figure class="chart" data-series='{"x": [...], "series": [{"label": ..., "values": [...]}]}'>
// with "range": [first, last] to span a fixed window (seconds) however few the points
function labelWidth(self, values) {
  const longest = Math.max(0, ...(values || []).map((v) => String(v).length));
  return Math.max(50, longest * 8 + 18);
}

function drawCharts(root) {
  root.querySelectorAll("figure.chart[data-series]").forEach((figure) => {
    if (figure.dataset.drawn || typeof uPlot === "undefined") return;
    const data = JSON.parse(figure.dataset.series);
    if (!data.x.length) return;
    const palette = ["#1f5fad", "#c2410c", "#15803d", "#7e22ce"];
    const options = {
      width: Math.min(figure.clientWidth || 600, 900),
      height: 220,
      series: [{}].concat(data.series.map((s, i) => ({
        label: s.label, stroke: palette[i % palette.length], width: 2,
        scale: s.scale || "y",
      }))),
      // the y axis as wide as its longest label ("40,000" was cut to "0,000" at uPlot's 50 px)
      axes: [{}, { scale: "y", size: labelWidth }].concat(
        data.series.some((s) => s.scale === "rate") ? [{ scale: "rate", side: 1, grid: { show: false } }] : []
      ),
      scales: { x: data.range ? { time: true, range: () => data.range } : { time: true } },
    };
    new uPlot(options, [data.x].concat(data.series.map((s) => s.values)), figure);
    figure.dataset.drawn = "1";
  });
}
document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSwap", (event) => drawCharts(event.target));
