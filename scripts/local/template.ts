/**
 * The synthesized CloudFormation template the local runner builds everything from: loaded from an
 * existing cdk.out or synthesized in-process from the CDK app, plus a resolver for the intrinsic
 * functions the template uses (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, pseudo parameters) against the
 * local resources' names, URLs and ARNs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface Template {
  readonly Resources: Record<string, TemplateResource>;
}

export interface LoadedTemplate {
  readonly stackName: string;
  readonly template: Template;
  /** Where it came from: a file path, or "synthesized". */
  readonly source: string;
}

export interface LoadTemplateOptions {
  /** Read <dir>/<stack>.template.json instead of synthesizing. */
  readonly cdkOut?: string;
  /** CDK context for an in-process synth (the same keys as `-c key=value`). */
  readonly context?: Record<string, unknown>;
  /** Output directory of an in-process synth. */
  readonly outdir?: string;
}

export async function loadTemplate(options: LoadTemplateOptions = {}): Promise<LoadedTemplate> {
  if (options.cdkOut !== undefined) {
    const manifest = JSON.parse(readFileSync(join(options.cdkOut, "manifest.json"), "utf8")) as {
      artifacts?: Record<string, { type?: string; properties?: { templateFile?: string } }>;
    };
    const stacks = Object.entries(manifest.artifacts ?? {}).filter(
      ([, artifact]) => artifact.type === "aws:cloudformation:stack",
    );
    const [stack] = stacks;
    if (stack === undefined || stacks.length !== 1)
      throw new Error(`${options.cdkOut}: expected exactly one stack, found ${stacks.length}`);
    const [stackName, artifact] = stack;
    const file = join(options.cdkOut, artifact.properties?.templateFile ?? `${stackName}.template.json`);
    if (!existsSync(file)) throw new Error(`template not found: ${file}`);
    return { stackName, template: JSON.parse(readFileSync(file, "utf8")) as Template, source: file };
  }
  // In-process synth: the same app as `cdk synth` (bundling with the local esbuild, cdk-nag).
  const { buildApp } = await import("#infra/build-app.ts");
  const built = buildApp({
    context: { ...options.context },
    ...(options.outdir !== undefined ? { outdir: options.outdir } : {}),
  });
  const assembly = built.app.synth();
  const stack = assembly.getStackByName(built.stack.stackName);
  return { stackName: built.stack.stackName, template: stack.template as Template, source: "synthesized" };
}

export function resourcesOfType(template: Template, type: string): Array<[string, TemplateResource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** What a logical id resolves to locally. */
export interface LocalResource {
  /** The value of { Ref: id }. */
  readonly ref: string;
  /** Fn::GetAtt attribute values (Arn, StreamArn, QueueUrl, QueueName, TopicName, ...). */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface PseudoParameters {
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
}

export class IntrinsicResolver {
  readonly #resources: Map<string, LocalResource>;
  readonly #pseudo: Record<string, string>;

  constructor(resources: Map<string, LocalResource>, pseudo: PseudoParameters) {
    this.#resources = resources;
    this.#pseudo = {
      "AWS::Region": pseudo.region,
      "AWS::AccountId": pseudo.accountId,
      "AWS::StackName": pseudo.stackName,
      "AWS::Partition": "aws",
      "AWS::URLSuffix": "amazonaws.com",
      "AWS::NoValue": "",
    };
  }

  /** A resolved value: strings stay strings, objects and arrays are resolved member by member. */
  resolve(value: unknown, path = "$"): unknown {
    if (typeof value !== "object" || value === null) return value;
    if (Array.isArray(value)) return value.map((item, i) => this.resolve(item, `${path}[${i}]`));
    const entries = Object.entries(value as Record<string, unknown>);
    const [first] = entries;
    if (entries.length === 1 && first !== undefined && (first[0] === "Ref" || first[0].startsWith("Fn::")))
      return this.#intrinsic(first[0], first[1], path);
    return Object.fromEntries(entries.map(([key, item]) => [key, this.resolve(item, `${path}.${key}`)]));
  }

  resolveString(value: unknown, path = "$"): string {
    const resolved = this.resolve(value, path);
    if (typeof resolved === "string") return resolved;
    if (typeof resolved === "number" || typeof resolved === "boolean") return String(resolved);
    throw new Error(`${path}: resolves to ${JSON.stringify(resolved)}, not a string`);
  }

  #intrinsic(name: string, argument: unknown, path: string): unknown {
    switch (name) {
      case "Ref":
        return this.#ref(String(argument), path);
      case "Fn::GetAtt": {
        const [id, attribute] = Array.isArray(argument)
          ? (argument as string[])
          : String(argument).split(/\.(.*)/);
        return this.#getAtt(String(id), String(attribute), path);
      }
      case "Fn::Join": {
        const [separator, items] = argument as [string, unknown[]];
        const resolved = this.resolve(items, path);
        if (!Array.isArray(resolved)) throw new Error(`${path}: Fn::Join of a non-list`);
        return resolved.map((item, i) => this.resolveString(item, `${path}[${i}]`)).join(separator);
      }
      case "Fn::Sub": {
        const [text, variables] = Array.isArray(argument)
          ? (argument as [string, Record<string, unknown>])
          : [String(argument), {}];
        return text.replace(/\$\{([^}!]+)\}/g, (_, expression: string) => {
          if (Object.hasOwn(variables, expression))
            return this.resolveString(variables[expression], `${path}.${expression}`);
          if (expression in this.#pseudo) return this.#pseudo[expression] as string;
          const [id, attribute] = expression.split(/\.(.*)/);
          return attribute === undefined
            ? this.#ref(String(id), path)
            : this.#getAtt(String(id), attribute, path);
        });
      }
      case "Fn::Select": {
        const [index, items] = argument as [number, unknown];
        const list = this.resolve(items, path);
        if (!Array.isArray(list)) throw new Error(`${path}: Fn::Select of a non-list`);
        return list[Number(index)];
      }
      default:
        throw new Error(`${path}: ${name} is not supported by the local runner`);
    }
  }

  #ref(id: string, path: string): string {
    const pseudo = this.#pseudo[id];
    if (pseudo !== undefined) return pseudo;
    const resource = this.#resources.get(id);
    if (resource === undefined) throw new Error(`${path}: Ref ${id}: no local resource`);
    return resource.ref;
  }

  #getAtt(id: string, attribute: string, path: string): string {
    const value = this.#resources.get(id)?.attributes[attribute];
    if (value === undefined) throw new Error(`${path}: Fn::GetAtt ${id}.${attribute}: no local value`);
    return value;
  }
}
