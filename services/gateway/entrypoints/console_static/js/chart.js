// The answer-rate chart as inline SVG: the rate per day or week (line, dots red under the bar), the
// number of questions (light bars), and the ministry's 90% line. No chart library.

import { formatRate, svg } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 260;
const MARGIN = { top: 16, right: 14, bottom: 30, left: 44 };
const MAX_X_LABELS = 8;
const GRID_STEPS = [0, 0.25, 0.5, 0.75, 1];

/**
 * points: [{label: "27/11", rate: 0.92 | null, total: 42}], oldest first; target: 0.9.
 * Returns an <svg> element scaled to its container's width.
 */
export function rateChart(points, { target = 0.9, title = "Tỉ lệ trả lời" } = {}) {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotWidth / Math.max(points.length, 1);
  const x = (index) => MARGIN.left + slot * (index + 0.5);
  const y = (rate) => MARGIN.top + (1 - rate) * plotHeight;
  const maxTotal = Math.max(1, ...points.map((p) => p.total));
  const below = points.filter((p) => p.rate !== null && p.rate < target).length;

  const grid = GRID_STEPS.map((step) => [
    svg("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(step), y2: y(step) }),
    svg("text", { class: "axis", x: MARGIN.left - 6, y: y(step) + 4, "text-anchor": "end" }, `${step * 100}%`),
  ]);
  const bars = points.map((p, index) =>
    p.total
      ? svg(
          "rect",
          {
            class: "bar",
            x: x(index) - slot * 0.35,
            width: slot * 0.7,
            y: MARGIN.top + plotHeight * (1 - p.total / maxTotal),
            height: plotHeight * (p.total / maxTotal),
          },
          svg("title", {}, `${p.label}: ${p.total} câu hỏi`),
        )
      : null,
  );
  // The line breaks where a day or week had no question (rate null).
  const segments = [];
  let current = [];
  points.forEach((p, index) => {
    if (p.rate === null) {
      if (current.length) segments.push(current);
      current = [];
    } else {
      current.push(`${x(index).toFixed(1)},${y(p.rate).toFixed(1)}`);
    }
  });
  if (current.length) segments.push(current);
  const lines = segments.map((segment) => svg("polyline", { class: "line", points: segment.join(" ") }));
  const dots = points.map((p, index) =>
    p.rate === null
      ? null
      : svg(
          "circle",
          { class: p.rate < target ? "dot below" : "dot", cx: x(index), cy: y(p.rate), r: 3.5 },
          svg("title", {}, `${p.label}: ${formatRate(p.rate)} (${p.total} câu hỏi)`),
        ),
  );
  const every = Math.max(1, Math.ceil(points.length / MAX_X_LABELS));
  const labels = points.map((p, index) =>
    index % every === 0 || index === points.length - 1
      ? svg("text", { class: "axis", x: x(index), y: HEIGHT - 10, "text-anchor": "middle" }, p.label)
      : null,
  );
  const targetY = y(target);
  return svg(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `${title}: ${points.length} mốc, ${below} mốc dưới ngưỡng ${formatRate(target)}`,
    },
    svg("title", {}, title),
    grid,
    bars,
    svg("line", { class: "target", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: targetY, y2: targetY }),
    svg("text", { class: "target-label", x: WIDTH - MARGIN.right - 2, y: targetY - 5, "text-anchor": "end" }, `Ngưỡng ${formatRate(target)}`),
    lines,
    dots,
    labels,
  );
}

/** Daily rows → ISO-week rows (Monday first): totals summed, rate recomputed. */
export function weekly(daily) {
  const weeks = new Map();
  for (const day of daily) {
    const [year, month, date] = day.date.split("-").map(Number);
    const moment = new Date(Date.UTC(year, month - 1, date));
    const monday = new Date(moment);
    monday.setUTCDate(moment.getUTCDate() - ((moment.getUTCDay() + 6) % 7));
    const key = monday.toISOString().slice(0, 10);
    const week = weeks.get(key) || { date: key, total: 0, answered: 0 };
    week.total += day.total;
    week.answered += day.answered;
    weeks.set(key, week);
  }
  return [...weeks.values()].map((week) => ({ ...week, answer_rate: week.total ? week.answered / week.total : null }));
}
