/**
 * SVG to PNG with resvg (a Rust renderer shipped as a prebuilt native package per platform:
 * no install script, no browser). Text uses the system's fonts; DejaVu Sans is asked for first.
 */
import { Resvg } from "@resvg/resvg-js";

export function renderPng(svg: string): Buffer {
  const renderer = new Resvg(svg, {
    background: "#ffffff",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    logLevel: "off",
  });
  return renderer.render().asPng();
}
