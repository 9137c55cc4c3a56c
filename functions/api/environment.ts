/**
 * The API function's environment, read and validated once at cold start: the three tables it
 * reads (names set by the CDK construct that grants the access, see shared/config/resources.ts).
 * Watcher registration has its own, optional, settings (watcher-registry-factory.ts).
 */
import { z } from "zod";
import { EnvironmentError } from "#shared/config/environment.ts";
import { ENV } from "#shared/config/resources.ts";

export interface ApiEnvironment {
  readonly slicesTable: string;
  readonly stateTable: string;
  readonly identitiesTable: string;
}

const tableName = z
  .string({ error: "required" })
  .regex(/^[A-Za-z0-9_.-]{3,255}$/, "must be a DynamoDB table name");

const schema = z.object({
  [ENV.slicesTable]: tableName,
  [ENV.stateTable]: tableName,
  [ENV.identitiesTable]: tableName,
});

export function readApiEnvironment(source: NodeJS.ProcessEnv = process.env): ApiEnvironment {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new EnvironmentError(`invalid API function environment: ${problems.join("; ")}`);
  }
  return {
    slicesTable: parsed.data[ENV.slicesTable],
    stateTable: parsed.data[ENV.stateTable],
    identitiesTable: parsed.data[ENV.identitiesTable],
  };
}
