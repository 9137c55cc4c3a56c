/**
 * Label and field selectors with the grammar and validation of k8s.io/apimachinery's
 * labels.Parse: comma-joined requirements `key`, `!key`, `key=value`, `key==value`,
 * `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key>n`, `key<n`. Keys are qualified names and
 * values label values, so a selector the apiserver would refuse is refused here too (400).
 *
 * Selectors filter after storage reads (labels live inside the stored JSON), so matching is a
 * plain function over an object's labels.
 */
import { badRequest, type StatusError } from "./status.ts";

export type SelectorOperator = "=" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";

export interface Requirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** One value for = and !=, the set for in / notin, the integer text for gt / lt, none otherwise. */
  readonly values: readonly string[];
}

export interface LabelSelector {
  /** The selector as given, trimmed: part of what a continue token is bound to. */
  readonly text: string;
  readonly requirements: readonly Requirement[];
}

export const EVERYTHING: LabelSelector = { text: "", requirements: [] };

export class SelectorParseError extends Error {
  override name = "SelectorParseError";
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INTEGER = /^-?[0-9]+$/;

type Token =
  | { readonly type: "identifier"; readonly text: string }
  | { readonly type: "operator"; readonly text: string }
  | { readonly type: "end"; readonly text: "" };

const SPECIAL = new Set([" ", "\t", "\n", "\r", ",", "=", "!", "(", ")", "<", ">"]);

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    if (c === "=" || c === "!") {
      if (input[i + 1] === "=") {
        tokens.push({ type: "operator", text: `${c}=` });
        i += 2;
      } else {
        tokens.push({ type: "operator", text: c });
        i++;
      }
      continue;
    }
    if (c === "," || c === "(" || c === ")" || c === "<" || c === ">") {
      tokens.push({ type: "operator", text: c });
      i++;
      continue;
    }
    let j = i;
    while (j < input.length && !SPECIAL.has(input[j] as string)) j++;
    const text = input.slice(i, j);
    // Like the apimachinery lexer, "in" and "notin" are keywords wherever they stand.
    tokens.push(
      text === "in" || text === "notin" ? { type: "operator", text } : { type: "identifier", text },
    );
    i = j;
  }
  tokens.push({ type: "end", text: "" });
  return tokens;
}

function describe(token: Token): string {
  return token.type === "end" ? "end of string" : `'${token.text}'`;
}

class Parser {
  readonly #tokens: Token[];
  #at = 0;
  readonly #validateKey: (key: string) => string | undefined;
  readonly #validateValue: (value: string) => string | undefined;
  readonly #operators: ReadonlySet<string>;

  constructor(
    input: string,
    validateKey: (key: string) => string | undefined,
    validateValue: (value: string) => string | undefined,
    operators: ReadonlySet<string>,
  ) {
    this.#tokens = tokenize(input);
    this.#validateKey = validateKey;
    this.#validateValue = validateValue;
    this.#operators = operators;
  }

  #peek(): Token {
    return this.#tokens[this.#at] as Token;
  }

  #next(): Token {
    const token = this.#peek();
    if (token.type !== "end") this.#at++;
    return token;
  }

  parse(): Requirement[] {
    const requirements: Requirement[] = [];
    if (this.#peek().type === "end") return requirements;
    for (;;) {
      requirements.push(this.#requirement());
      const token = this.#next();
      if (token.type === "end") return requirements;
      if (token.text !== ",")
        throw new SelectorParseError(`found ${describe(token)}, expected: ',' or end of string`);
    }
  }

  #requirement(): Requirement {
    let token = this.#next();
    if (token.type === "operator" && token.text === "!") {
      if (!this.#operators.has("!")) throw new SelectorParseError("'!key' is not supported here");
      token = this.#next();
      if (token.type !== "identifier")
        throw new SelectorParseError(`found ${describe(token)}, expected: identifier`);
      return { key: this.#key(token.text), operator: "!", values: [] };
    }
    if (token.type !== "identifier")
      throw new SelectorParseError(`found ${describe(token)}, expected: !, identifier`);
    const key = this.#key(token.text);
    const following = this.#peek();
    if (following.type === "end" || following.text === ",") {
      if (!this.#operators.has("exists"))
        throw new SelectorParseError(`'${key}': an operator and a value are required`);
      return { key, operator: "exists", values: [] };
    }
    const op = this.#next();
    const operator = (
      { "=": "=", "==": "=", "!=": "!=", in: "in", notin: "notin", ">": "gt", "<": "lt" } as Record<
        string,
        SelectorOperator
      >
    )[op.text];
    if (op.type !== "operator" || operator === undefined || !this.#operators.has(operator)) {
      throw new SelectorParseError(
        `found ${describe(op)}, expected: ${[...this.#operators].filter((o) => o !== "exists" && o !== "!").join(", ")}`,
      );
    }
    if (operator === "in" || operator === "notin") return { key, operator, values: this.#valueSet() };
    const valueToken = this.#peek();
    let value = "";
    if (valueToken.type === "identifier") value = this.#next().text;
    else if (valueToken.type !== "end" && valueToken.text !== ",")
      throw new SelectorParseError(`found ${describe(valueToken)}, expected: identifier after '${op.text}'`);
    if (operator === "gt" || operator === "lt") {
      if (!INTEGER.test(value))
        throw new SelectorParseError(`for 'gt', 'lt' operators, the value must be an integer`);
      return { key, operator, values: [value] };
    }
    return { key, operator, values: [this.#value(value)] };
  }

  #valueSet(): string[] {
    const open = this.#next();
    if (open.text !== "(") throw new SelectorParseError(`found ${describe(open)}, expected: '('`);
    const values: string[] = [];
    let expectValue = true;
    for (;;) {
      const token = this.#next();
      if (token.type === "identifier" && expectValue) {
        values.push(this.#value(token.text));
        expectValue = false;
      } else if (token.text === ",") {
        if (expectValue) values.push("");
        expectValue = true;
      } else if (token.text === ")") {
        if (expectValue) values.push("");
        return [...new Set(values)].sort();
      } else {
        throw new SelectorParseError(`found ${describe(token)}, expected: ',', ')' or identifier`);
      }
    }
  }

  #key(key: string): string {
    const problem = this.#validateKey(key);
    if (problem !== undefined) throw new SelectorParseError(`invalid label key "${key}": ${problem}`);
    return key;
  }

  #value(value: string): string {
    const problem = this.#validateValue(value);
    if (problem !== undefined) throw new SelectorParseError(`invalid label value: "${value}": ${problem}`);
    return value;
  }
}

/** Problem with a label key (a qualified name), or undefined if it is valid. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "a qualified name must consist of an optional DNS subdomain prefix and a name";
  const name = parts.length === 2 ? (parts[1] as string) : key;
  const prefix = parts.length === 2 ? parts[0] : undefined;
  if (prefix !== undefined && (prefix === "" || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return "prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters";
  if (name === "" || name.length > 63 || !NAME.test(name))
    return "name part must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character";
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME.test(value))
    return "a valid label must be an empty string or at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character";
  return undefined;
}

const LABEL_OPERATORS: ReadonlySet<string> = new Set(["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]);

/**
 * Parses a labelSelector query value. Throws a 400 StatusError for a selector the apiserver
 * would refuse, with its reason.
 */
export function parseLabelSelector(text: string | undefined): LabelSelector {
  const trimmed = (text ?? "").trim();
  if (trimmed === "") return EVERYTHING;
  try {
    const requirements = new Parser(trimmed, labelKeyProblem, labelValueProblem, LABEL_OPERATORS).parse();
    return { text: trimmed, requirements };
  } catch (error) {
    throw selectorError("labelSelector", trimmed, error);
  }
}

export function matchesLabels(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  for (const requirement of selector.requirements) {
    if (!requirementMatches(requirement, ownLabel(labels, requirement.key))) return false;
  }
  return true;
}

/**
 * The label's value if the object has it as its own string-valued property: `constructor`,
 * `toString` or `__proto__` inherited from Object.prototype are not labels, and a stored
 * `__proto__` label (JSON.parse keeps it as an own property) is one like any other.
 */
function ownLabel(labels: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  if (labels === undefined || labels === null || !Object.hasOwn(labels, key)) return undefined;
  const value: unknown = labels[key];
  return typeof value === "string" ? value : undefined;
}

function requirementMatches(requirement: Requirement, value: string | undefined): boolean {
  const first = requirement.values[0] as string;
  switch (requirement.operator) {
    case "=":
      return value === first;
    case "!=":
      return value !== first;
    case "in":
      return value !== undefined && requirement.values.includes(value);
    case "notin":
      return value === undefined || !requirement.values.includes(value);
    case "exists":
      return value !== undefined;
    case "!":
      return value === undefined;
    case "gt":
    case "lt": {
      if (value === undefined || !INTEGER.test(value)) return false;
      const have = BigInt(value);
      const bound = BigInt(first);
      return requirement.operator === "gt" ? have > bound : have < bound;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Field selectors: the two fields every resource supports, metadata.name and metadata.namespace.
// ---------------------------------------------------------------------------------------------

export const FIELDS = ["metadata.name", "metadata.namespace"] as const;
export type SelectableField = (typeof FIELDS)[number];
export type FieldSelector = LabelSelector;
export const ALL_FIELDS: FieldSelector = EVERYTHING;

const FIELD_OPERATORS: ReadonlySet<string> = new Set(["=", "!="]);

export function parseFieldSelector(text: string | undefined): FieldSelector {
  const trimmed = (text ?? "").trim();
  if (trimmed === "") return ALL_FIELDS;
  try {
    const requirements = new Parser(
      trimmed,
      (key) =>
        (FIELDS as readonly string[]).includes(key) ? undefined : `field label not supported: ${key}`,
      () => undefined,
      FIELD_OPERATORS,
    ).parse();
    return { text: trimmed, requirements };
  } catch (error) {
    throw selectorError("fieldSelector", trimmed, error);
  }
}

export function matchesFields(
  selector: FieldSelector,
  object: { metadata: { name: string; namespace?: string | undefined } },
): boolean {
  if (selector.requirements.length === 0) return true;
  return matchesLabels(selector, {
    "metadata.name": object.metadata.name,
    "metadata.namespace": object.metadata.namespace ?? "",
  });
}

function selectorError(parameter: string, text: string, error: unknown): StatusError {
  const reason = error instanceof SelectorParseError ? error.message : "malformed selector";
  return badRequest(`unable to parse requirement: ${reason}`, [
    {
      reason: "FieldValueInvalid",
      message: `${parameter} ${JSON.stringify(text)}: ${reason}`,
      field: parameter,
    },
  ]);
}
