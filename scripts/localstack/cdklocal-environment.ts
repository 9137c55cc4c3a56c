/**
 * The environment cdklocal runs under, and the edge endpoint it will deploy to.
 *
 * aws-cdk-local 3.x with an aws-cdk CLI >= 2.177 (ours is 2.1148) does not patch the CLI: it removes
 * every AWS_* variable except AWS_ENDPOINT_URL* and those named in AWS_ENVAR_ALLOWLIST, then points
 * the CLI at AWS_ENDPOINT_URL (default <http|https if USE_SSL>://localhost.localstack.cloud:<EDGE_PORT
 * or 4566>) and AWS_ENDPOINT_URL_S3 (default s3.localhost.localstack.cloud), and refuses to run with
 * the first set but not the second. LOCALSTACK_HOSTNAME is not read on that path. Credentials
 * default to test/test, which LocalStack maps to account 000000000000.
 */

export interface CdklocalEnvironment {
  readonly env: Record<string, string>;
  /** Where the SDK clients of tools and tests reach LocalStack afterwards. */
  readonly endpoint: string;
  readonly region: string;
}

export class CdklocalEnvironmentError extends Error {
  override name = "CdklocalEnvironmentError";
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "localhost.localstack.cloud"]);

/** `endpoint`: an explicit edge URL (--endpoint or LOCALSTACK_ENDPOINT), else what cdklocal defaults to. */
export function cdklocalEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  endpoint?: string,
): CdklocalEnvironment {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) if (value !== undefined) env[name] = value;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
  env.AWS_REGION = region;
  env.AWS_DEFAULT_REGION = region;
  // The region must survive cdklocal's clean-up, or it deploys to us-east-1 whatever was asked.
  const allow = new Set((env.AWS_ENVAR_ALLOWLIST ?? "").split(",").map((name) => name.trim()));
  allow.add("AWS_REGION");
  allow.add("AWS_DEFAULT_REGION");
  allow.delete("");
  env.AWS_ENVAR_ALLOWLIST = [...allow].join(",");

  const chosen = endpoint ?? env.AWS_ENDPOINT_URL;
  if (chosen === undefined) {
    const protocol = ["1", "true"].includes(env.USE_SSL ?? "") ? "https" : "http";
    return {
      env,
      endpoint: `${protocol}://localhost.localstack.cloud:${env.EDGE_PORT ?? "4566"}`,
      region,
    };
  }
  const url = new URL(chosen);
  env.AWS_ENDPOINT_URL = chosen.replace(/\/$/, "");
  if (env.AWS_ENDPOINT_URL_S3 === undefined) {
    // S3 assets go to virtual-hosted bucket names: only the localstack.cloud names resolve those.
    if (!LOCAL_HOSTS.has(url.hostname))
      throw new CdklocalEnvironmentError(
        `endpoint ${chosen} is not local: set AWS_ENDPOINT_URL_S3 too (an S3 endpoint whose subdomains resolve)`,
      );
    env.AWS_ENDPOINT_URL_S3 = `${url.protocol}//s3.localhost.localstack.cloud${url.port === "" ? "" : `:${url.port}`}`;
  }
  return { env, endpoint: env.AWS_ENDPOINT_URL, region };
}
