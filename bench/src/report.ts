// Builds the comparison rows (ratio > 1 = Berth better), applies the targets,
// and renders the markdown table.

export interface Row {
  section: "skopeo" | "http" | "memory";
  metric: string;
  unit: string;
  /** slot A value (Berth) */
  a: number;
  /** slot B value (Distribution) */
  b: number;
  higherIsBetter: boolean;
  ratio: number;
  minRatio: number;
  /** optional absolute limit on slot A (e.g. RSS < 200 MiB) */
  maxA?: number;
  pass: boolean;
  note?: string;
  /** e.g. "2/5 runs disturbed": other processes used the CPU during the runs behind this row */
  disturbed?: string;
}

export function makeRow(
  section: Row["section"],
  metric: string,
  unit: string,
  a: number,
  b: number,
  higherIsBetter: boolean,
  minRatio: number,
  extra: { maxA?: number; note?: string; disturbed?: string } = {},
): Row {
  const ratio = higherIsBetter ? a / b : b / a;
  let pass = Number.isFinite(ratio) && ratio >= minRatio;
  if (extra.maxA !== undefined) pass = pass && a < extra.maxA;
  const row: Row = { section, metric, unit, a, b, higherIsBetter, ratio, minRatio, pass };
  if (extra.maxA !== undefined) row.maxA = extra.maxA;
  if (extra.note !== undefined) row.note = extra.note;
  if (extra.disturbed !== undefined) row.disturbed = extra.disturbed;
  return row;
}

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return "n/a";
  switch (unit) {
    case "s":
      return `${v.toFixed(3)} s`;
    case "ms":
      return `${v < 10 ? v.toFixed(3) : v.toFixed(1)} ms`;
    case "req/s":
    case "uploads/s":
      return `${v >= 100 ? Math.round(v).toString() : v.toFixed(1)} ${unit}`;
    case "MiB":
      return `${v.toFixed(1)} MiB`;
    default:
      return `${v} ${unit}`;
  }
}

export function renderTable(rows: readonly Row[], labelA: string, labelB: string): string {
  const lines = [
    `| Metric | ${labelA} | ${labelB} | Ratio (>1 = ${labelA} better) | Target | Result |`,
    "|---|---:|---:|---:|---|:---:|",
  ];
  for (const r of rows) {
    let target = `≥ ${r.minRatio.toFixed(1)}×`;
    if (r.maxA !== undefined) target = r.minRatio > 0 ? `${target} and ${labelA} < ${r.maxA} ${r.unit}` : `${labelA} < ${r.maxA} ${r.unit}`;
    const ratio = Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : "n/a";
    let metric = r.note !== undefined ? `${r.metric} (${r.note})` : r.metric;
    if (r.disturbed !== undefined) metric += ` ⚠ ${r.disturbed}`;
    lines.push(`| ${metric} | ${fmt(r.a, r.unit)} | ${fmt(r.b, r.unit)} | ${ratio} | ${target} | ${r.pass ? "PASS" : "**FAIL**"} |`);
  }
  return lines.join("\n");
}

export function summary(rows: readonly Row[]): string {
  const failed = rows.filter((r) => !r.pass);
  const disturbed = rows.filter((r) => r.disturbed !== undefined).length;
  const noise =
    disturbed > 0
      ? ` ${disturbed} rows are marked ⚠: during some of their runs other processes on the machine used > 0.3 cores (see otherCores in the JSON).`
      : "";
  return (
    (failed.length === 0
      ? `All ${rows.length} rows PASS.`
      : `${failed.length} of ${rows.length} rows FAIL: ${failed.map((r) => r.metric).join("; ")}.`) + noise
  );
}
