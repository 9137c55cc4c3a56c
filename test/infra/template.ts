/**
 * Reading a synthesized template: resources by type, IAM statements with their owner, and
 * CloudFormation intrinsics rendered as text (`${SlicesTable.Arn}/index/byKind`) so assertions
 * can compare ARNs without knowing how they were built.
 */
import type { Template } from "aws-cdk-lib/assertions";

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export type Resources = Readonly<Record<string, CfnResource>>;

export function resourcesOf(template: Template): Resources {
  return (template.toJSON() as { Resources: Resources }).Resources;
}

export function ofType(resources: Resources, type: string): [string, CfnResource][] {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

/** Intrinsics as text: {Ref: X} -> ${X}, {Fn::GetAtt: [X, Y]} -> ${X.Y}, Fn::Join concatenated. */
export function render(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value !== "object" || value === null) return String(value);
  const object = value as Record<string, unknown>;
  if ("Ref" in object) return `\${${String(object.Ref)}}`;
  if ("Fn::GetAtt" in object) return `\${${(object["Fn::GetAtt"] as string[]).join(".")}}`;
  if ("Fn::Join" in object) {
    const [separator, parts] = object["Fn::Join"] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  if ("Fn::Sub" in object) return String(object["Fn::Sub"]);
  return JSON.stringify(value);
}

export interface Statement {
  /** Logical id of the policy (or role) the statement belongs to. */
  readonly owner: string;
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
}

function list(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Every identity-policy statement: inline policies, role inline policies, managed policies. */
export function identityStatements(resources: Resources): Statement[] {
  const statements: Statement[] = [];
  const add = (owner: string, document: unknown) => {
    for (const raw of list((document as { Statement?: unknown } | undefined)?.Statement)) {
      const statement = raw as { Effect: string; Action?: unknown; Resource?: unknown };
      statements.push({
        owner,
        effect: statement.Effect,
        actions: list(statement.Action).map(render),
        resources: list(statement.Resource).map(render),
      });
    }
  };
  for (const [id, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    if (resource.Type === "AWS::IAM::Policy" || resource.Type === "AWS::IAM::ManagedPolicy") {
      add(id, props.PolicyDocument);
    }
    if (resource.Type === "AWS::IAM::Role") {
      for (const policy of list(props.Policies))
        add(id, (policy as { PolicyDocument: unknown }).PolicyDocument);
    }
  }
  return statements;
}

/** The Allow statements of the default policy attached to the role of function `functionId`. */
export function statementsOfFunction(resources: Resources, functionId: string): Statement[] {
  const fn = resources[functionId];
  if (fn === undefined) throw new Error(`no resource ${functionId}`);
  const roleId = render(fn.Properties?.Role).replace(/^\$\{(\w+)\.Arn\}$/, "$1");
  const policyIds = ofType(resources, "AWS::IAM::Policy")
    .filter(([, policy]) => list(policy.Properties?.Roles).some((role) => render(role) === `\${${roleId}}`))
    .map(([id]) => id);
  return identityStatements(resources).filter(
    (statement) => policyIds.includes(statement.owner) && statement.effect === "Allow",
  );
}

export function environmentOf(resources: Resources, functionId: string): Record<string, unknown> {
  const props = resources[functionId]?.Properties as {
    Environment?: { Variables?: Record<string, unknown> };
  };
  return props.Environment?.Variables ?? {};
}
