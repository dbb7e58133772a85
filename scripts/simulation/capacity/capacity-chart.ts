/** An SVG chart of slots coming due vs messages served, per UTC hour of the simulated span. */

const WIDTH = 960;
const HEIGHT = 360;
const MARGIN = { left: 60, right: 20, top: 40, bottom: 40 };

function polyline(values: Uint32Array, peak: number, color: string): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const step = plotWidth / Math.max(1, values.length);
  const points: string[] = [];
  values.forEach((value, hour) => {
    const y = MARGIN.top + plotHeight - (value / peak) * plotHeight;
    points.push(`${(MARGIN.left + hour * step).toFixed(1)},${y.toFixed(1)}`);
    points.push(`${(MARGIN.left + (hour + 1) * step).toFixed(1)},${y.toFixed(1)}`);
  });
  return `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points.join(" ")}"/>`;
}

export function dueVersusServedChart({
  title,
  dueByHour,
  servedByHour,
  start,
}: {
  title: string;
  dueByHour: Uint32Array;
  servedByHour: Uint32Array;
  start: number;
}): string {
  let peak = 1;
  for (const value of dueByHour) peak = Math.max(peak, value);
  for (const value of servedByHour) peak = Math.max(peak, value);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const step = plotWidth / Math.max(1, dueByHour.length);
  const dayTicks = Array.from({ length: Math.ceil(dueByHour.length / 24) + 1 }, (_, day) => {
    const x = MARGIN.left + day * 24 * step;
    const label = new Date(start + day * 86_400_000).toISOString().slice(5, 10);
    return `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${HEIGHT - MARGIN.bottom}" stroke="#d0d7de"/><text x="${x}" y="${HEIGHT - MARGIN.bottom + 16}" font-size="11" text-anchor="middle" fill="#57606a">${label}</text>`;
  }).join("");
  const escapedTitle = title.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif"><title>${escapedTitle}</title><rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/><text x="${MARGIN.left}" y="22" font-size="14" fill="#1f2328">${escapedTitle}</text>${dayTicks}<text x="${MARGIN.left - 8}" y="${MARGIN.top + 4}" font-size="11" text-anchor="end" fill="#57606a">${peak.toLocaleString("en-US")}</text><text x="${MARGIN.left - 8}" y="${HEIGHT - MARGIN.bottom}" font-size="11" text-anchor="end" fill="#57606a">0</text>${polyline(dueByHour, peak, "#bf8700")}${polyline(servedByHour, peak, "#2f5d50")}<text x="${WIDTH - 290}" y="22" font-size="12" fill="#bf8700">— slots coming due per hour (UTC)</text><text x="${WIDTH - 290}" y="36" font-size="12" fill="#2f5d50">— messages sent per hour</text></svg>\n`;
}
