/*
 * cost.svg: write units per play-hour (measured) and the extrapolated monthly bill, fixed against
 * adaptive. Plain SVG written here, like bench/results/latency.svg, so it needs no library.
 */
import type { FleetCost } from './extrapolate';

export interface ChartInput {
  readonly title: string;
  readonly fixed: { readonly reported: number; readonly failed: number };
  readonly adaptive: { readonly reported: number; readonly failed: number };
  readonly fleets: ReadonlyArray<{ readonly streams: number; readonly fixed: FleetCost; readonly adaptive: FleetCost }>;
}

const COLORS = { fixed: '#c0392b', adaptive: '#2471a3', failed: '#aaa' };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (value: number) => value.toFixed(1);

function compact(value: number): string {
  if (value >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return `${+value.toFixed(value < 10 ? 2 : 0)}`;
}

function unitsPanel(input: ChartInput, x0: number, y0: number, width: number, height: number): string[] {
  const out: string[] = [];
  const max =
    Math.max(input.fixed.reported + input.fixed.failed, input.adaptive.reported + input.adaptive.failed, 1) * 1.15;
  const scaleY = (value: number) => y0 + height - (value / max) * height;
  out.push(
    `<text x="${x0}" y="${y0 - 12}" font-size="13" font-weight="bold">Write units per play-hour (measured)</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const value = (max / 4) * i;
    const y = scaleY(value);
    out.push(`<line x1="${x0}" x2="${x0 + width}" y1="${num(y)}" y2="${num(y)}" stroke="#ddd"/>`);
    out.push(
      `<text x="${x0 - 6}" y="${num(y)}" font-size="11" text-anchor="end" dominant-baseline="middle">${Math.round(value)}</text>`,
    );
  }
  const bars = [
    { label: 'fixed 30 s', color: COLORS.fixed, ...input.fixed },
    { label: 'adaptive', color: COLORS.adaptive, ...input.adaptive },
  ];
  const barWidth = width / 4;
  bars.forEach((bar, i) => {
    const x = x0 + barWidth * (0.5 + i * 2);
    const top = scaleY(bar.reported);
    const failedTop = scaleY(bar.reported + bar.failed);
    out.push(
      `<rect x="${num(x)}" y="${num(top)}" width="${num(barWidth)}" height="${num(y0 + height - top)}" fill="${bar.color}"/>`,
    );
    if (bar.failed > 0) {
      out.push(
        `<rect x="${num(x)}" y="${num(failedTop)}" width="${num(barWidth)}" height="${num(top - failedTop)}" fill="${COLORS.failed}"/>`,
      );
    }
    out.push(
      `<text x="${num(x + barWidth / 2)}" y="${num(failedTop - 6)}" font-size="12" text-anchor="middle">${(bar.reported + bar.failed).toFixed(1)}</text>`,
    );
    out.push(
      `<text x="${num(x + barWidth / 2)}" y="${y0 + height + 16}" font-size="12" text-anchor="middle">${escape(bar.label)}</text>`,
    );
  });
  out.push(`<rect x="${x0}" y="${y0 + height + 28}" width="10" height="10" fill="${COLORS.failed}"/>`);
  out.push(`<text x="${x0 + 14}" y="${y0 + height + 37}" font-size="11">failed conditions (1 unit each)</text>`);
  return out;
}

function dollarsPanel(input: ChartInput, x0: number, y0: number, width: number, height: number): string[] {
  const out: string[] = [];
  const values = input.fleets.flatMap((fleet) => [
    fleet.fixed.onDemandPerMonth,
    fleet.adaptive.onDemandPerMonth,
    fleet.fixed.provisionedPerMonth,
    fleet.adaptive.provisionedPerMonth,
  ]);
  const low = Math.pow(10, Math.floor(Math.log10(Math.max(0.01, Math.min(...values)))));
  const high = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 1))));
  const scaleY = (value: number) =>
    y0 +
    height -
    ((Math.log10(Math.max(value, low)) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * height;
  out.push(
    `<text x="${x0}" y="${y0 - 12}" font-size="13" font-weight="bold">DynamoDB writes, $ per month (log scale)</text>`,
  );
  for (let decade = Math.log10(low); decade <= Math.log10(high); decade++) {
    const y = scaleY(10 ** decade);
    out.push(`<line x1="${x0}" x2="${x0 + width}" y1="${num(y)}" y2="${num(y)}" stroke="#ddd"/>`);
    out.push(
      `<text x="${x0 - 6}" y="${num(y)}" font-size="11" text-anchor="end" dominant-baseline="middle">$${compact(10 ** decade)}</text>`,
    );
  }
  const series = [
    {
      label: 'fixed, on-demand',
      color: COLORS.fixed,
      opacity: 1,
      pick: (f: (typeof input.fleets)[number]) => f.fixed.onDemandPerMonth,
    },
    {
      label: 'adaptive, on-demand',
      color: COLORS.adaptive,
      opacity: 1,
      pick: (f: (typeof input.fleets)[number]) => f.adaptive.onDemandPerMonth,
    },
    {
      label: 'fixed, provisioned',
      color: COLORS.fixed,
      opacity: 0.45,
      pick: (f: (typeof input.fleets)[number]) => f.fixed.provisionedPerMonth,
    },
    {
      label: 'adaptive, provisioned',
      color: COLORS.adaptive,
      opacity: 0.45,
      pick: (f: (typeof input.fleets)[number]) => f.adaptive.provisionedPerMonth,
    },
  ];
  const group = width / input.fleets.length;
  const barWidth = (group * 0.8) / series.length;
  input.fleets.forEach((fleet, g) => {
    series.forEach((entry, s) => {
      const value = entry.pick(fleet);
      const x = x0 + g * group + group * 0.1 + s * barWidth;
      const top = scaleY(value);
      out.push(
        `<rect x="${num(x)}" y="${num(top)}" width="${num(barWidth - 2)}" height="${num(y0 + height - top)}" fill="${entry.color}" fill-opacity="${entry.opacity}"><title>${escape(entry.label)}: $${value.toFixed(2)}</title></rect>`,
      );
    });
    out.push(
      `<text x="${num(x0 + g * group + group / 2)}" y="${y0 + height + 16}" font-size="12" text-anchor="middle">${compact(fleet.streams)} streams</text>`,
    );
  });
  series.forEach((entry, s) => {
    const x = x0 + (s % 2) * (width / 2);
    const y = y0 + height + 30 + Math.floor(s / 2) * 16;
    out.push(`<rect x="${x}" y="${y}" width="10" height="10" fill="${entry.color}" fill-opacity="${entry.opacity}"/>`);
    out.push(`<text x="${x + 14}" y="${y + 9}" font-size="11">${escape(entry.label)}</text>`);
  });
  return out;
}

export function renderCostChart(input: ChartInput): string {
  const width = 1000;
  const height = 460;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="60" y="22" font-size="15" font-weight="bold">${escape(input.title)}</text>`,
    ...unitsPanel(input, 70, 70, 300, 300),
    ...dollarsPanel(input, 480, 70, 480, 300),
    '</svg>',
    '',
  ].join('\n');
}
