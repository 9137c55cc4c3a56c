/** Number formatting shared by the HTML report and the PNG summary. */

export function fmtCount(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return fmtRatio(value);
}

/** Up to 3 significant digits, never exponent notation above 1e-6. */
export function fmtRatio(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) < 1e-6) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

export function fmtBytes(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? Math.round(scaled) : Number(scaled.toPrecision(3))} ${units[unit]}`;
}

export function fmtMs(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value >= 10_000) return `${Number((value / 1000).toPrecision(3))} s`;
  return `${fmtRatio(value)} ms`;
}

export function fmtUsd(value: number | undefined): string {
  if (value === undefined) return "n/a";
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "$0";
  if (Math.abs(value) >= 100) return `$${Math.round(value).toLocaleString("en-US")}`;
  if (Math.abs(value) >= 0.01) return `$${value.toFixed(2)}`;
  return `$${Number(value.toPrecision(2))}`;
}

export function fmtPercent(ratio: number | null): string {
  if (ratio === null) return "n/a";
  return `${Number((ratio * 100).toPrecision(3))}%`;
}
