/** Label maps and equality-based selectors, as Kubernetes Service selectors use them. */

export type Labels = Readonly<Record<string, string>>;

/** A copy with keys in sorted order, so equal label sets serialize and compare equal. */
export function sortedLabels(labels: Labels | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (labels === undefined) return out;
  for (const key of Object.keys(labels).sort()) {
    out[key] = labels[key] as string;
  }
  return out;
}

/** A Service selector matches when every key=value it names is on the object (an empty one matches all). */
export function selectorMatches(selector: Labels, labels: Labels): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}

export function labelsEqual(a: Labels, b: Labels): boolean {
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  for (const key of aKeys) {
    if (a[key] !== b[key]) return false;
  }
  return true;
}
