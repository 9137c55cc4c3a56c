import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  barChart,
  colorAt,
  composeSvg,
  escapeXml,
  formatTick,
  lineChart,
  niceDomain,
  svgHeight,
  ticks,
} from "#scripts/bench/svg-charts.ts";

function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(pattern)].length;
}

/** Every opened element is closed: a cheap well-formedness check without an XML parser. */
function assertBalanced(svg: string) {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name = "", selfClosing] = match;
    if (selfClosing === "/") continue;
    if (closing === "/") assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
}

describe("escapeXml", () => {
  it("escapes markup characters", () => {
    assert.equal(escapeXml(`a<b>&"c'`), "a&lt;b&gt;&amp;&quot;c&#39;");
  });
});

describe("ticks", () => {
  it("puts log ticks on whole decades covering the data", () => {
    const domain = niceDomain("log", [3, 420]);
    assert.deepEqual(domain, { min: 1, max: 1000 });
    assert.deepEqual(ticks("log", domain), [1, 10, 100, 1000]);
  });

  it("leaves a decade below data that starts on a decade", () => {
    assert.deepEqual(niceDomain("log", [1, 50]), { min: 0.1, max: 100 });
  });

  it("ignores non-positive values on a log scale", () => {
    assert.deepEqual(niceDomain("log", [0, -1, 0.05, 2]), { min: 0.01, max: 10 });
  });

  it("uses nice linear steps from zero", () => {
    const domain = niceDomain("linear", [0.2, 0.93]);
    assert.deepEqual(domain, { min: 0, max: 1 });
    assert.deepEqual(ticks("linear", domain), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it("formats ticks short", () => {
    assert.equal(formatTick(1500), "1.5k");
    assert.equal(formatTick(2_000_000), "2M");
    assert.equal(formatTick(0.05), "0.05");
    assert.equal(formatTick(0.0001), "1e-4");
  });
});

describe("lineChart", () => {
  const svg = lineChart({
    title: "Latency <CDF>",
    xLabel: "ms",
    yLabel: "fraction",
    x: "log",
    y: "linear",
    yDomain: [0, 1],
    step: true,
    series: [
      {
        name: "a & b",
        points: [
          [1, 0.25],
          [10, 0.5],
          [100, 1],
        ],
      },
      {
        name: "c",
        points: [
          [0, 0.5],
          [5, 1],
        ],
      },
    ],
  });

  it("draws one path and one legend entry per series", () => {
    assert.equal(count(svg, /<g class="series"/g), 2);
    assert.equal(count(svg, /<path d="M/g), 2);
    assert.equal(count(svg, /<g class="legend-entry">/g), 2);
    assert.ok(svg.includes(`fill="${colorAt(1)}"`));
  });

  it("escapes titles and names", () => {
    assert.ok(svg.includes("Latency &lt;CDF&gt;"));
    assert.ok(svg.includes('data-name="a &amp; b"'));
    assert.ok(!svg.includes("<CDF>"));
  });

  it("drops points a log axis cannot show", () => {
    assert.ok(svg.includes('data-name="c" data-points="1"'));
  });

  it("draws steps for a CDF, rising from the x axis", () => {
    const first = /<path d="M([\d.]+),([\d.]+)V([\d.]+)H[\d.]+V[\d.]+/.exec(svg);
    assert.ok(first, "step path");
    const axis = /<path class="axis-lines" d="M[\d.]+,[\d.]+V([\d.]+)/.exec(svg);
    assert.equal(first[2], axis?.[1]);
  });

  it("keeps every point inside the plot area", () => {
    const width = 560;
    for (const match of svg.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)"/g)) {
      const [cx, cy] = [Number(match[1]), Number(match[2])];
      assert.ok(cx >= 64 && cx <= width - 16, `x ${cx}`);
      assert.ok(cy >= 34 && cy <= svgHeight(svg), `y ${cy}`);
    }
  });

  it("is well formed", () => {
    assertBalanced(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });
});

describe("barChart", () => {
  const svg = barChart({
    title: "Deliveries per pod change",
    yLabel: "deliveries",
    y: "log",
    bars: [
      { label: "per-endpoint", value: 5000 },
      { label: "sliceline", value: 120 },
      { label: "none", value: 0 },
    ],
    references: [
      { label: "1/20 of per-endpoint", value: 250 },
      { label: "1/5", value: 1000 },
    ],
  });

  it("draws a bar per positive value and labels every bar", () => {
    assert.equal(count(svg, /<g class="bar"/g), 3);
    assert.equal(count(svg, /<rect x="[\d.]+" y="[\d.]+" width/g), 2);
    assert.ok(svg.includes('data-label="none" data-value="0"'));
  });

  it("draws the reference lines in order of value: larger values higher", () => {
    const ys = [...svg.matchAll(/<g class="reference"[^>]*><line x1="\d+" x2="\d+" y1="([\d.]+)"/g)].map(
      (match) => Number(match[1]),
    );
    assert.equal(ys.length, 2);
    assert.ok((ys[0] ?? 0) > (ys[1] ?? 0));
  });

  it("is well formed", () => {
    assertBalanced(svg);
  });
});

describe("composeSvg", () => {
  it("places panels as nested svg elements", () => {
    const panel = barChart({ title: "t", yLabel: "y", y: "linear", bars: [{ label: "a", value: 1 }] });
    const page = composeSvg(1200, 800, [
      { svg: panel, x: 0, y: 40 },
      { svg: panel, x: 600, y: 40 },
    ]);
    assert.equal(count(page, /<svg x="\d+" y="40" xmlns/g), 2);
    assertBalanced(page);
  });
});
