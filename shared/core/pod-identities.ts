/**
 * The identity each pod of a namespace group holds, and per identity how many of the group's pods
 * hold it, with the identity's label-set key kept once rather than per pod: what tells reconcile
 * whether a pod's labels still map to the identity it holds.
 */
export class PodIdentities {
  readonly #byPod = new Map<string, number>();
  readonly #held = new Map<number, { readonly labelSetKey: string; holders: number }>();
  /** Told of every pod whose identity changed: its stored record must be written. */
  readonly #changed: (podName: string) => void;

  constructor(changed: (podName: string) => void) {
    this.#changed = changed;
  }

  /** Pod name -> the identity id it holds. */
  get byPod(): ReadonlyMap<string, number> {
    return this.#byPod;
  }

  labelSetKeyOf(id: number): string | undefined {
    return this.#held.get(id)?.labelSetKey;
  }

  hold(podName: string, id: number, labelSetKey: string): void {
    this.#byPod.set(podName, id);
    this.#changed(podName);
    const held = this.#held.get(id);
    if (held === undefined) this.#held.set(id, { labelSetKey, holders: 1 });
    else held.holders++;
  }

  release(podName: string, id: number): void {
    this.#byPod.delete(podName);
    this.#changed(podName);
    const held = this.#held.get(id);
    if (held !== undefined && --held.holders === 0) this.#held.delete(id);
  }
}
