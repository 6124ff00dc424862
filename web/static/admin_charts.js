// Small hand-drawn SVG charts for the operator console: no library, nothing from a CDN.
"use strict";
const LyceumCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 320, H = 140, PAD = {l: 34, r: 6, t: 8, b: 18};

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function frame(label) {
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label});
    return svg;
  }
  function axes(svg, max, points) {
    const y0 = H - PAD.b;
    svg.appendChild(el("line", {x1: PAD.l, y1: y0, x2: W - PAD.r, y2: y0, stroke: "#999"}));
    svg.appendChild(el("line", {x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: y0, stroke: "#999"}));
    svg.appendChild(el("text", {x: PAD.l - 3, y: PAD.t + 8, "text-anchor": "end", "font-size": 9}, fmt(max)));
    svg.appendChild(el("text", {x: PAD.l - 3, y: y0, "text-anchor": "end", "font-size": 9}, "0"));
    if (points.length) {
      const time = (p) => new Date(p.at).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
      svg.appendChild(el("text", {x: PAD.l, y: H - 4, "font-size": 9}, time(points[0])));
      svg.appendChild(el("text", {x: W - PAD.r, y: H - 4, "font-size": 9, "text-anchor": "end"}, time(points[points.length - 1])));
    }
  }
  function fmt(v) { return v >= 100 ? Math.round(v) : Math.round(v * 10) / 10; }
  function scale(points, max) {
    const step = (W - PAD.l - PAD.r) / Math.max(1, points.length);
    const y = (v) => H - PAD.b - (max ? (v / max) * (H - PAD.b - PAD.t) : 0);
    return {step, y, x: (i) => PAD.l + i * step};
  }

  // Stacked bars: succeeded (green) and failed (red) per bucket, as jobs per minute.
  function bars(container, points, minutes, label) {
    const svg = frame(label);
    const rate = (n) => n / minutes;
    const max = Math.max(1e-9, ...points.map((p) => rate(p.succeeded + p.failed)));
    const s = scale(points, max);
    axes(svg, max, points);
    points.forEach((p, i) => {
      const okTop = s.y(rate(p.succeeded)), allTop = s.y(rate(p.succeeded + p.failed));
      const w = Math.max(1, s.step - 1);
      svg.appendChild(el("rect", {x: s.x(i), y: okTop, width: w, height: H - PAD.b - okTop, fill: "#3c8d5a"}));
      if (p.failed) svg.appendChild(el("rect", {x: s.x(i), y: allTop, width: w, height: okTop - allTop, fill: "#c0392b"}));
    });
    container.replaceChildren(svg);
  }

  // Lines, one per series; a missing value (null) breaks its line.
  function lines(container, points, series, label) {
    const svg = frame(label);
    const values = points.flatMap((p) => series.map((x) => x.value(p))).filter((v) => v !== null && v !== undefined);
    const max = Math.max(1e-9, ...values);
    const s = scale(points, max);
    axes(svg, max, points);
    for (const x of series) {
      let d = "", pen = false;
      points.forEach((p, i) => {
        const v = x.value(p);
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? "L" : "M"}${s.x(i) + s.step / 2},${s.y(v)} `;
        pen = true;
      });
      svg.appendChild(el("path", {d: d.trim(), fill: "none", stroke: x.color, "stroke-width": 1.5}));
      svg.appendChild(el("title", {}, x.name));
    }
    container.replaceChildren(svg);
  }
  return {bars, lines};
})();
