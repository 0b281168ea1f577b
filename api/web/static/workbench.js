// The workbench's page behaviour: SLA timers that count down, and drawing a box on a photo.
// Plain script, no build step, nothing fetched; the pages work without it except for these.
"use strict";

(function () {
  // ------------------------------------------------------------------ SLA timers
  // The server renders each timer's remaining seconds; counting from the page's own
  // monotonic clock keeps a wrong wall clock in the browser from skewing it.
  function format(seconds) {
    const late = seconds < 0;
    let s = Math.floor(Math.abs(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const pad = (n) => String(n).padStart(2, "0");
    const text = d ? `${d} d ${h} h` : h ? `${h} h ${pad(m)} min` : `${m} min ${pad(s)} s`;
    return late ? `${text} late` : `${text} left`;
  }

  function startTimers() {
    const timers = Array.from(document.querySelectorAll(".timer[data-remaining]"));
    if (!timers.length) return;
    const t0 = performance.now();
    const tick = () => {
      const elapsed = (performance.now() - t0) / 1000;
      for (const el of timers) {
        const left = Number(el.dataset.remaining) - elapsed;
        el.querySelector(".t-text").textContent = format(left);
        const breached = left < 0;
        el.classList.toggle("breached", breached);
        el.querySelector(".flag").hidden = !breached;
      }
    };
    tick();
    setInterval(tick, 1000);
  }

  // ------------------------------------------------------------------ box drawing
  // Drag on a photo to draw a rectangle; it fills the four corner inputs (in the photo's
  // pixels), and typing in those inputs moves the rectangle: the keyboard way to the same.
  function setupPhoto(figure) {
    const fix = figure.querySelector("fieldset.fix");
    const svg = figure.querySelector("svg.boxes");
    if (!fix || !svg) return;
    const draft = svg.querySelector("rect.draft");
    const W = Number(figure.dataset.width), H = Number(figure.dataset.height);
    const inputs = {};
    for (const el of fix.querySelectorAll("input[data-corner]")) inputs[el.dataset.corner] = el;
    const target = fix.querySelector("select[name$='-target']");

    function draw() {
      const v = ["x1", "y1", "x2", "y2"].map((k) => parseFloat(inputs[k].value));
      if (v.some(Number.isNaN) || v[2] <= v[0] || v[3] <= v[1]) {
        draft.setAttribute("visibility", "hidden");
        return;
      }
      draft.setAttribute("x", v[0]); draft.setAttribute("y", v[1]);
      draft.setAttribute("width", v[2] - v[0]); draft.setAttribute("height", v[3] - v[1]);
      draft.setAttribute("visibility", "visible");
    }

    function point(event) {
      const r = svg.getBoundingClientRect();
      const x = Math.min(Math.max((event.clientX - r.left) / r.width, 0), 1) * W;
      const y = Math.min(Math.max((event.clientY - r.top) / r.height, 0), 1) * H;
      return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
    }

    let start = null;
    svg.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      start = point(event);
      svg.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    svg.addEventListener("pointermove", (event) => {
      if (!start) return;
      const [x, y] = point(event);
      inputs.x1.value = Math.min(start[0], x); inputs.x2.value = Math.max(start[0], x);
      inputs.y1.value = Math.min(start[1], y); inputs.y2.value = Math.max(start[1], y);
      draw();
    });
    const finish = () => {
      if (!start) return;
      start = null;
      // A box with no correction named is most likely a finding the model missed.
      if (target && !target.value && draft.getAttribute("visibility") === "visible") {
        target.value = "missed";
      }
    };
    svg.addEventListener("pointerup", finish);
    svg.addEventListener("pointercancel", finish);
    for (const el of Object.values(inputs)) el.addEventListener("input", draw);
    fix.querySelector(".clear-box").addEventListener("click", () => {
      for (const el of Object.values(inputs)) el.value = "";
      draw();
      inputs.x1.focus();
    });
    draw();
  }

  document.addEventListener("DOMContentLoaded", () => {
    startTimers();
    document.querySelectorAll("figure.photo").forEach(setupPhoto);
    const problem = document.getElementById("problem");
    if (problem) problem.focus();
  });
})();
