/**
 * One sliceline Lambda function, the same way every time: Node.js 24 on arm64, bundled by the
 * local esbuild (never Docker) as ESM with a `require` shim for CommonJS dependencies, source maps,
 * X-Ray tracing, JSON logs into its own log group with a retention, and an execution role that may
 * write to that log group and nothing else until something is granted to it.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  ApplicationLogLevel,
  Architecture,
  type CfnFunction,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat, SourceMapMode } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { Settings } from "#infra/settings.ts";
import { METRICS_NAMESPACE } from "#shared/config/metric-names.ts";
import type { ServiceName } from "#shared/config/service-names.ts";

/** The repository root: entries, package-lock.json and tsconfig.json are resolved from here. */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** ESM bundles still meet CommonJS dependencies that call require(): give them one. */
const REQUIRE_SHIM =
  "import { createRequire as __slicelineCreateRequire } from 'node:module'; " +
  "const require = __slicelineCreateRequire(import.meta.url);";

export interface PipelineFunctionProps {
  /** CloudFormation logical id of the function (LOGICAL_IDS). */
  readonly logicalId: string;
  /** Handler file, relative to the repository root. */
  readonly entry: string;
  /** The export Lambda calls (template Handler `index.<export>`); default `handler`. */
  readonly handler?: string;
  readonly description: string;
  /** Powertools service name (logs, traces, the EMF `service` dimension). */
  readonly serviceName: ServiceName;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** The stack's log retention; production keeps the log group when the stack is deleted. */
  readonly settings: Pick<Settings, "logRetentionDays" | "production">;
  /** Reserved concurrency (a cap, and a guarantee taken from the account's pool); default none. */
  readonly reservedConcurrency?: number | undefined;
  /**
   * Other grants on Resource "*" this function's event sources add (besides X-Ray's), with why
   * AWS requires "*" for them; becomes part of the cdk-nag acknowledgement.
   */
  readonly otherStarResourceGrants?: string;
}

export class PipelineFunction extends Construct {
  readonly function: NodejsFunction;
  /** Powertools service name: the `service` dimension of every metric the handler emits. */
  readonly serviceName: ServiceName;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.serviceName = props.serviceName;
    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.settings.logRetentionDays as RetentionDays,
      removalPolicy: props.settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `${props.serviceName}: execution role`,
    });
    // Instead of AWSLambdaBasicExecutionRole (logs on every log group): this log group only.
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, "Function", {
      entry: join(PROJECT_ROOT, props.entry),
      handler: props.handler ?? "handler",
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, "package-lock.json"),
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds),
      ...(props.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      tracing: Tracing.ACTIVE,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: "--enable-source-maps",
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: "node24",
        mainFields: ["module", "main"],
        banner: REQUIRE_SHIM,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        tsconfig: join(PROJECT_ROOT, "tsconfig.json"),
      },
    });
    (this.function.node.defaultChild as CfnFunction).overrideLogicalId(props.logicalId);

    // Active tracing put xray:PutTraceSegments / PutTelemetryRecords on "*" into the role's policy.
    const policy = this.role.node.tryFindChild("DefaultPolicy");
    if (policy !== undefined) {
      Validations.of(policy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "Granted on '*': xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing; X-Ray " +
          "has no resource-level permissions for them)" +
          (props.otherStarResourceGrants === undefined ? "" : `; ${props.otherStarResourceGrants}`) +
          ". test/infra/stack.test.ts asserts the exact set of actions the stack grants on '*'.",
      });
    }
  }
}
