// The operations dashboard's charts, drawn by the vendored Chart.js from the JSON the page
// embeds (#ops-data): nothing is fetched, nothing loads from another origin.
"use strict";

(function () {
  const source = document.getElementById("ops-data");
  if (!source || typeof Chart === "undefined") return;
  const d = JSON.parse(source.textContent);
  const css = getComputedStyle(document.documentElement);
  const named = (name, fallback) => (css.getPropertyValue("--" + name).trim() || fallback);
  // Defects keep the workbench's colours (--mold, --spoilage...); other keys take the palette,
  // whose colours are none of those, so two keys never share one.
  const palette = ["#0b5cad", "#0e7490", "#a16207", "#be185d", "#4d7c0f", "#1e3a8a",
    "#9a3412", "#6b21a8", "#155e75", "#57606a"];
  const fixed = { "no defect found": "#8c959f" };
  const colour = (key, i) => fixed[key] || named(key, palette[i % palette.length]);
  const label = (key) => key.replace(/_/g, " ");
  const day = (iso) => new Date(iso + "T00:00:00Z").toLocaleDateString(undefined,
    { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = css.fontFamily;
  Chart.defaults.color = named("muted", "#57606a");

  const integers = { beginAtZero: true, ticks: { precision: 0 } };

  function perDay(id, series) {
    const keys = Object.keys(series.counts);
    new Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels: series.days.map(day),
        datasets: keys.map((k, i) => ({
          label: label(k), data: series.counts[k], backgroundColor: colour(k, i),
        })),
      },
      options: {
        scales: { x: { stacked: true }, y: { stacked: true, ...integers } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function sla(id, rows) {
    const labels = [];
    const met = [], due = [], breached = [];
    for (const s of rows) {
      for (const [name, key] of [["first response", "first_response"], ["resolution", "resolution"]]) {
        labels.push(s.key + " " + name);
        met.push(s[key + "_met"]);
        due.push(s[key + "_due"]);
        breached.push(s[key + "_breached"]);
      }
    }
    new Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: "met", data: met, backgroundColor: named("ok", "#1a7f37") },
          { label: "not yet due", data: due, backgroundColor: "#afb8c1" },
          { label: "breached", data: breached, backgroundColor: named("bad", "#b42318") },
        ],
      },
      options: {
        indexAxis: "y",
        scales: { x: { stacked: true, ...integers }, y: { stacked: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function parties(id, rows) {
    const currency = (d.paid[0] || {}).currency || "";
    const paid = (s) => {
      const m = s.paid.find((p) => p.currency === currency);
      return m ? Number(m.amount) : 0;
    };
    new Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels: rows.map((s) => label(s.key)),
        datasets: [
          { label: "claims", data: rows.map((s) => s.claims), backgroundColor: "#0b5cad",
            yAxisID: "y" },
          { label: "breaches", data: rows.map((s) => s.breached), backgroundColor: named("bad", "#b42318"),
            yAxisID: "y" },
          { label: "paid" + (currency ? " (" + currency + ")" : ""), data: rows.map(paid),
            backgroundColor: "#b45309", yAxisID: "money" },
        ],
      },
      options: {
        scales: {
          y: { ...integers, title: { display: true, text: "claims" } },
          money: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
            title: { display: true, text: currency || "paid" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  perDay("chart-category", d.per_day_category);
  perDay("chart-defect", d.per_day_defect);
  sla("chart-sla", d.by_priority);
  parties("chart-party", d.by_party);
  document.body.dataset.chartsReady = "1";
})();
