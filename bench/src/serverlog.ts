// Summarises a registry's log (Berth logs JSON lines at level error): groups
// lines by message and first error line, and names the benchmark run each
// line's time falls into, so anomalies can be matched to what caused them.

export interface TimedRun {
  label: string;
  start: number;
  end: number;
}

interface Group {
  count: number;
  first: string;
  during: Map<string, number>;
}

function runAt(runs: readonly TimedRun[], t: number): string {
  // allow 1 s after the end: connections are torn down when the load generator exits
  const r = runs.find((x) => t >= x.start && t <= x.end + 1000);
  return r?.label ?? "between runs";
}

export function summarizeLog(text: string, runs: readonly TimedRun[]): string[] {
  const groups = new Map<string, Group>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let key = line.slice(0, 160);
    let time = Number.NaN;
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      const err = typeof j["error"] === "string" ? (j["error"].split("\n")[0] ?? "") : "";
      const str = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v) ?? "");
      key = `${str(j["level"])}: ${str(j["msg"])}${err !== "" ? `: ${err}` : ""}`;
      if (typeof j["time"] === "string") time = Date.parse(j["time"]);
    } catch {
      // not JSON: keep the raw prefix
    }
    const g = groups.get(key) ?? { count: 0, first: line.slice(0, 600), during: new Map<string, number>() };
    g.count++;
    const where = Number.isNaN(time) ? "unknown time" : runAt(runs, time);
    g.during.set(where, (g.during.get(where) ?? 0) + 1);
    groups.set(key, g);
  }
  return [...groups.entries()].map(([key, g]) => {
    const during = [...g.during.entries()].map(([w, n]) => `${n}× ${w}`).join(", ");
    return `${g.count} log line(s) "${key}" — during: ${during}. First: ${g.first}`;
  });
}
