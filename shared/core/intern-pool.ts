/**
 * Sharing of equal values between slim records.
 *
 * Every watch event arrives as fresh JSON, so without this each pod would carry its own copy of
 * its namespace, node name, host IP, phase, label set and port list, though thousands of pods
 * share each of them. A pool hands out one instance per distinct value. It is bounded: past its
 * capacity it starts over, which only costs some sharing, never correctness (values are equal).
 */
export class InternPool<T> {
  readonly #values = new Map<string, T>();
  readonly #capacity: number;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  intern(key: string, value: T): T {
    const shared = this.#values.get(key);
    if (shared !== undefined) return shared;
    if (this.#values.size >= this.#capacity) this.#values.clear();
    this.#values.set(key, value);
    return value;
  }

  get size(): number {
    return this.#values.size;
  }
}

const strings = new InternPool<string>();

/** One instance of a low-cardinality string (namespace, node name, host IP, phase, label value). */
export function internString(value: string): string;
export function internString(value: string | undefined): string | undefined;
export function internString(value: string | undefined): string | undefined {
  return value === undefined ? undefined : strings.intern(value, value);
}
