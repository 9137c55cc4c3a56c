/**
 * Who may act on which watcher (docs/contract.md §4 extension, docs/aws.md "Watcher authorization"). IAM
 * only says a caller may invoke the API; this binds a node name to the caller's IAM principal, so
 * one node cannot deregister, narrow or squat another node's watcher.
 *
 * A policy names principal patterns: in `nodePrincipals`, `{node}` stands for the node name of the
 * route, exactly; `*` in any pattern stands for a run of characters without ":" or "/" (one ARN
 * field or path element, such as the account id). The default,
 * `arn:aws:sts::*:assumed-role/sliceline-node/{node}`, lets the role session named after a node
 * (and nothing else) act on that node's watcher. `adminPrincipals` act on any node and are not
 * capped. Mode "none" (the local runner's default: it has no IAM) lets every caller through as one
 * anonymous, uncapped owner.
 */
import { z } from "zod";

export interface WatcherAuthorizationPolicy {
  readonly mode: "principal" | "none";
  readonly nodePrincipals: readonly string[];
  readonly adminPrincipals: readonly string[];
  /** Live registrations one non-admin principal may hold. */
  readonly capPerCaller: number;
}

/** Who a registration belongs to, as authorization decided it. */
export interface WatcherOwner {
  /** The caller's IAM principal ARN; "anonymous" when authorization is off. */
  readonly principal: string;
  /** Acts on any node's watcher (deregisters it, reads it without refreshing it). */
  readonly admin: boolean;
  /** Live registrations this owner may hold; undefined: no cap. */
  readonly cap: number | undefined;
}

export type WatcherAuthorization =
  | { readonly allowed: true; readonly owner: WatcherOwner }
  | { readonly allowed: false; readonly message: string };

export const ANONYMOUS_OWNER = "anonymous";

export const DEFAULT_NODE_PRINCIPAL = "arn:aws:sts::*:assumed-role/sliceline-node/{node}";

/** Fails closed: what a function without a configured policy enforces (nobody but no one passes). */
export const DENY_ALL_POLICY: WatcherAuthorizationPolicy = {
  mode: "principal",
  nodePrincipals: [],
  adminPrincipals: [],
  capPerCaller: 0,
};

export const OPEN_POLICY: WatcherAuthorizationPolicy = {
  mode: "none",
  nodePrincipals: [],
  adminPrincipals: [],
  capPerCaller: 0,
};

/** The policy as the stack hands it to the API function (JSON in SLICELINE_WATCHER_AUTHORIZATION). */
export const watcherAuthorizationPolicySchema = z.strictObject({
  mode: z.enum(["principal", "none"]),
  nodePrincipals: z.array(z.string().min(1).max(2048)).default([]),
  adminPrincipals: z
    .array(
      z
        .string()
        .min(1)
        .max(2048)
        .refine((pattern) => !pattern.includes("{node}"), "admin patterns name no {node}"),
    )
    .default([]),
  capPerCaller: z.number().int().min(0).max(100_000).default(10),
});

export function authorizeWatcherCaller(
  policy: WatcherAuthorizationPolicy,
  principal: string | undefined,
  node: string,
): WatcherAuthorization {
  if (policy.mode === "none")
    return { allowed: true, owner: { principal: ANONYMOUS_OWNER, admin: false, cap: undefined } };
  if (principal === undefined || principal === "")
    return { allowed: false, message: "watcher routes need an IAM principal (a SigV4-signed request)" };
  if (policy.adminPrincipals.some((pattern) => principalMatches(pattern, principal, node)))
    return { allowed: true, owner: { principal, admin: true, cap: undefined } };
  if (policy.nodePrincipals.some((pattern) => principalMatches(pattern, principal, node)))
    return { allowed: true, owner: { principal, admin: false, cap: policy.capPerCaller } };
  return {
    allowed: false,
    message: `principal ${principal} may not act on the watcher of node "${node}"`,
  };
}

/** Whole-string match of a pattern with `{node}` (the node name, literally) and `*` (no ":" or "/"). */
export function principalMatches(pattern: string, principal: string, node: string): boolean {
  const source = pattern
    .split("{node}")
    .map((part) => part.split("*").map(escapeRegExp).join("[^:/]*"))
    .join(escapeRegExp(node));
  return new RegExp(`^${source}$`, "u").test(principal);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
