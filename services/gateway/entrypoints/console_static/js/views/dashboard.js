// Answer-rate dashboard: the chosen unit's rate per day or week against the ministry's 90% bar,
// beside its tested rate (right answers on its own test questions: the only rate that says whether
// it meets the bar) and its helpful rate (staff's ratings); for ministry admins the sortable table
// of every unit (the three rates, questions, documents, freshness).

import { api, apiAll, paths } from "../api.js";
import { eachLimited, formatAgo, formatDateTime, formatDay, formatNumber, formatRate, h, replace } from "../dom.js";
import { rateChart, weekly } from "../chart.js";
import { helpfulFigure, testedFigure } from "../bar.js";

const WINDOWS = [
  { days: 7, label: "7 ngày" },
  { days: 30, label: "30 ngày" },
  { days: 90, label: "90 ngày" },
];
const TREND_LABELS = { up: "▲ tăng", down: "▼ giảm", flat: "→ ổn định", unknown: "chưa đủ dữ liệu" };
const DOCUMENT_LOOKUPS_AT_ONCE = 4;

function sinceIso(days) {
  return new Date(Date.now() - days * 86_400_000).toISOString();
}

export async function render(container, context) {
  const state = { days: Number(context.params.get("days")) || 30, weekly: context.params.get("by") === "week" };
  const unitSection = h("section", { "aria-labelledby": "unit-rate-title" });
  const ministrySection = h("section", { "aria-labelledby": "ministry-title" });
  const windowButtons = WINDOWS.map((w) =>
    h("button", { class: "btn secondary small", type: "button", "aria-pressed": String(w.days === state.days), onclick: () => { state.days = w.days; refresh(); } }, w.label),
  );
  const byDay = h("button", { class: "btn secondary small", type: "button", onclick: () => { state.weekly = false; refresh(); } }, "Theo ngày");
  const byWeek = h("button", { class: "btn secondary small", type: "button", onclick: () => { state.weekly = true; refresh(); } }, "Theo tuần");

  replace(
    container,
    h("div", { class: "spread" }, h("h1", {}, "Tỉ lệ trả lời"), h("div", { class: "row", role: "group", "aria-label": "Khoảng thời gian" }, windowButtons, byDay, byWeek)),
    h(
      "p",
      { class: "muted" },
      "Bộ yêu cầu mỗi trợ lý trả lời được ít nhất 90% câu hỏi, có nguồn trích dẫn. ",
      "Tỉ lệ trả lời chỉ đếm câu không bị từ chối (câu trả lời sai vẫn được tính); tỉ lệ hữu ích theo đánh giá thưa và đến muộn của cán bộ; ",
      "chỉ tỉ lệ đúng trên bộ câu hỏi kiểm tra của đơn vị cho biết trợ lý có thật sự đạt ngưỡng 90%.",
    ),
    unitSection,
    context.isMinistryAdmin ? ministrySection : null,
  );

  async function refresh() {
    windowButtons.forEach((button, index) => button.setAttribute("aria-pressed", String(WINDOWS[index].days === state.days)));
    byDay.setAttribute("aria-pressed", String(!state.weekly));
    byWeek.setAttribute("aria-pressed", String(state.weekly));
    const jobs = [];
    if (context.unit) jobs.push(unitReport(unitSection, context, state));
    if (context.isMinistryAdmin) jobs.push(ministryTable(ministrySection, context, state));
    await Promise.all(jobs);
  }
  await refresh();
}

async function unitReport(section, context, state) {
  replace(section, h("p", { class: "muted" }, "Đang tải báo cáo…"));
  let report;
  try {
    report = await api(`${paths.unit(context.unit)}/reports/answer-rate`, { query: { since: sinceIso(state.days) } });
  } catch (error) {
    replace(section, h("div", { class: "alert", role: "alert" }, error.message));
    return;
  }
  const rows = state.weekly ? weekly(report.daily) : report.daily;
  const points = rows.map((row) => ({
    label: state.weekly ? `Tuần ${formatDay(row.date)}` : formatDay(row.date),
    rate: row.answer_rate,
    total: row.total,
  }));
  const meets = report.meets_target;
  const tested = testedFigure(report);
  const helpful = helpfulFigure(report);
  replace(
    section,
    h("h2", { id: "unit-rate-title" }, context.unitName(context.unit)),
    h(
      "div",
      { class: "kpis" },
      kpi("Tỉ lệ trả lời", formatRate(report.answer_rate), meets === null ? h("span", { class: "badge info" }, "Chưa có câu hỏi") : meets ? h("span", { class: "badge ok" }, "Đạt ngưỡng 90%") : h("span", { class: "badge bad" }, "Dưới ngưỡng 90%"), "answer-rate"),
      kpi("Tỉ lệ đúng (câu hỏi kiểm tra)", tested.value, tested.note, "tested-rate"),
      kpi("Tỉ lệ hữu ích (đánh giá)", helpful.value, helpful.note, "helpful-rate"),
      kpi("Câu hỏi", formatNumber(report.total), `${formatNumber(report.answered)} đã trả lời`),
      kpi("Đánh giá", `${formatNumber(report.helpful)} / ${formatNumber(report.not_helpful)}`, "hữu ích / chưa hữu ích"),
      kpi("Xu hướng", TREND_LABELS[report.trend] || report.trend, report.change_points === null ? "" : `${report.change_points > 0 ? "+" : ""}${report.change_points.toLocaleString("vi-VN")} điểm %`),
    ),
    h(
      "div",
      { class: "card" },
      h("div", { class: "legend" }, h("span", {}, h("i", { class: "legend-line" }), "Tỉ lệ trả lời"), h("span", {}, h("i", { class: "legend-bar" }), "Số câu hỏi"), h("span", {}, h("i", { class: "legend-target" }), "Ngưỡng 90%")),
      points.length ? rateChart(points, { target: report.target, title: `Tỉ lệ trả lời ${state.weekly ? "theo tuần" : "theo ngày"}` }) : h("p", { class: "muted" }, "Chưa có dữ liệu trong khoảng thời gian này."),
      h(
        "details",
        {},
        h("summary", {}, "Xem dạng bảng"),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", {}, state.weekly ? "Tuần bắt đầu" : "Ngày"), h("th", { class: "num" }, "Câu hỏi"), h("th", { class: "num" }, "Đã trả lời"), h("th", { class: "num" }, "Tỉ lệ"))),
            h("tbody", {}, rows.map((row) => h("tr", { class: row.answer_rate !== null && row.answer_rate < report.target ? "below" : "" }, h("td", {}, row.date), h("td", { class: "num" }, formatNumber(row.total)), h("td", { class: "num" }, formatNumber(row.answered)), h("td", { class: "num" }, formatRate(row.answer_rate))))),
          ),
        ),
      ),
    ),
  );
}

function kpi(label, value, note, testId = "") {
  return h("div", { class: "kpi", "data-testid": testId || false }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "small" }, note));
}

const COLUMNS = [
  { key: "name", label: "Đơn vị", value: (row) => row.name || row.unit },
  { key: "answer_rate", label: "Tỉ lệ trả lời", numeric: true, value: (row) => row.answer_rate },
  { key: "total", label: "Câu hỏi", numeric: true, value: (row) => row.total },
  { key: "documents", label: "Văn bản", numeric: true, value: (row) => row.documents },
  { key: "freshness", label: "Cập nhật gần nhất", value: (row) => row.freshness },
  { key: "tested_correct_rate", label: "Tỉ lệ đúng (kiểm tra)", numeric: true, value: (row) => row.tested_correct_rate },
  { key: "helpful_rate", label: "Tỉ lệ hữu ích", numeric: true, value: (row) => row.helpful_rate },
];

/** A rate cell: the figure, and under it what it rests on (or why it is no verdict). */
function rateCell(figure, data) {
  return h("td", { class: "num", dataset: data }, h("div", {}, figure.value), h("div", { class: "small" }, figure.note));
}

async function ministryTable(section, context, state) {
  replace(section, h("h2", { id: "ministry-title" }, "Tất cả đơn vị"), h("p", { class: "muted" }, "Đang tải…"));
  let table;
  try {
    table = await api("/v1/reports/answer-rates", { query: { since: sinceIso(state.days) } });
  } catch (error) {
    replace(section, h("h2", { id: "ministry-title" }, "Tất cả đơn vị"), h("div", { class: "alert", role: "alert" }, error.message));
    return;
  }
  const rows = table.units.map((row) => ({ ...row, documents: null, freshness: null }));
  const sort = { key: "answer_rate", ascending: true };
  const body = h("tbody");
  const headRow = h("tr");

  function compare(a, b) {
    const column = COLUMNS.find((c) => c.key === sort.key);
    const left = column.value(a);
    const right = column.value(b);
    // Missing values (no question yet, still loading) always sort last.
    if (left === null || left === undefined) return right === null || right === undefined ? 0 : 1;
    if (right === null || right === undefined) return -1;
    const order = typeof left === "string" ? left.localeCompare(right, "vi") : left - right;
    return sort.ascending ? order : -order;
  }

  function draw() {
    replace(
      headRow,
      COLUMNS.map((column) =>
        h(
          "th",
          { class: column.numeric ? "num" : "", "aria-sort": sort.key === column.key ? (sort.ascending ? "ascending" : "descending") : "none", scope: "col" },
          h("button", { type: "button", onclick: () => { sort.ascending = sort.key === column.key ? !sort.ascending : true; sort.key = column.key; draw(); } }, column.label),
        ),
      ),
    );
    replace(
      body,
      [...rows].sort(compare).map((row) =>
        h(
          "tr",
          { class: row.meets_target === false ? "below" : "", dataset: { unit: row.unit } },
          h(
            "td",
            {},
            h("button", { class: "btn link", type: "button", onclick: () => context.setUnit(row.unit) }, row.name || row.unit),
            // The answered rate only: the tested rate carries its own verdict in its cell.
            row.meets_target === false ? [" ", h("span", { class: "badge bad", title: "Tỉ lệ trả lời (chưa xét đúng sai) dưới 90%" }, "Trả lời · Dưới 90%")] : null,
          ),
          h("td", { class: "num", dataset: { answered: row.answer_rate ?? "" } }, formatRate(row.answer_rate)),
          h("td", { class: "num" }, formatNumber(row.total)),
          h("td", { class: "num" }, row.documents === null ? "…" : formatNumber(row.documents)),
          h("td", { title: row.freshness ? formatDateTime(row.freshness) : "" }, row.documents === null ? "…" : row.freshness ? formatAgo(row.freshness) : "chưa có văn bản"),
          rateCell(testedFigure(row), { tested: row.tested_correct_rate ?? "" }),
          rateCell(helpfulFigure(row), { helpful: row.helpful_rate ?? "" }),
        ),
      ),
    );
  }

  replace(
    section,
    h("h2", { id: "ministry-title" }, "Tất cả đơn vị"),
    h(
      "div",
      { class: "kpis" },
      kpi("Tỉ lệ toàn Bộ", formatRate(table.answer_rate), `${formatNumber(table.total)} câu hỏi`),
      kpi("Trả lời ≥ 90%", formatNumber(table.units_meeting_target), "đơn vị"),
      kpi("Trả lời < 90%", formatNumber(table.units_below_target), "đơn vị"),
      kpi("Chưa có câu hỏi", formatNumber(table.units_without_questions), "đơn vị"),
    ),
    h("div", { class: "table-wrap card" }, h("table", { "aria-label": "Tỉ lệ trả lời của các đơn vị", "data-testid": "ministry-table" }, h("thead", {}, headRow), body)),
  );
  draw();

  // Documents and freshness: one list per unit, a few at a time, redrawn as they arrive.
  await eachLimited(rows, DOCUMENT_LOOKUPS_AT_ONCE, async (row) => {
    try {
      const documents = await apiAll(paths.documents(row.unit), "documents");
      const indexed = documents.filter((d) => d.status === "indexed");
      row.documents = indexed.length;
      row.freshness = indexed.reduce((latest, d) => (d.updated_at > (latest || "") ? d.updated_at : latest), null);
    } catch {
      row.documents = 0;
    }
    draw();
  });
}
