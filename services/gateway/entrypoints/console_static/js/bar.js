// The ministry's 90% bar as staff should read it, shared by the dashboard and the test-question
// page: a rate over a handful of test questions (or ratings) is a sample, not a verdict, and a unit
// without test questions says so instead of showing a green figure. Only the tested rate says
// whether a unit meets the bar; the answered and helpful rates are shown beside it.

import { formatDateTime, formatNumber, formatRate, h } from "./dom.js";

export const TARGET = 0.9;
export const FEW = 5; // at most this many questions (or ratings): a sample, not a verdict

function badge(kind, text) {
  return h("span", { class: `badge ${kind}` }, text);
}

/** "chỉ 4 câu — chưa đủ để kết luận" when `count` is a sample, else null. */
export function sampleNote(count, noun) {
  return count <= FEW ? `chỉ ${formatNumber(count)} ${noun} — chưa đủ để kết luận` : null;
}

/** The verdict of a rate over `count` items against the 90% line, as a badge. */
export function barBadge(rate, count, noun) {
  const sample = sampleNote(count, noun);
  if (sample) return badge("info", sample);
  return rate >= TARGET ? badge("ok", "Đạt ngưỡng 90%") : badge("bad", "Dưới ngưỡng 90%");
}

/** The tested rate of a report row: value and note (badge, count, date of the last run). */
export function testedFigure(row) {
  if (!row.test_questions) return { value: "—", note: badge("info", "Chưa có câu hỏi kiểm tra") };
  if (row.tested_correct_rate === null || row.tested_correct_rate === undefined) {
    return { value: "—", note: badge("info", "Chưa chạy kiểm tra") };
  }
  // The rate's denominator: answerable questions of the last run (must-refuse ones are apart).
  const counted = row.tested_answerable ?? row.test_questions;
  const when = row.last_test_run_at ? ` · ${formatDateTime(row.last_test_run_at)}` : "";
  return {
    value: formatRate(row.tested_correct_rate),
    note: [barBadge(row.tested_correct_rate, counted, "câu"), counted <= FEW ? null : ` ${formatNumber(counted)} câu`, when],
  };
}

/** The helpful rate of a report row (staff's ratings): a signal beside the bar, never the verdict. */
export function helpfulFigure(row) {
  if (!row.feedback_count) return { value: "—", note: "chưa có đánh giá" };
  const sample = sampleNote(row.feedback_count, "đánh giá");
  if (sample) return { value: formatRate(row.helpful_rate), note: sample };
  const side = row.helpful_rate >= TARGET ? "trên" : "dưới";
  return { value: formatRate(row.helpful_rate), note: `${formatNumber(row.feedback_count)} đánh giá · ${side} mức 90%` };
}
