/**
 * The CiliumIdentity object (cilium.io/v2) for an allocated id, shaped as cilium-operator writes it.
 */
import type { CiliumIdentity } from "#shared/core/model.ts";
import { K8S_LABEL_SOURCE, NAMESPACE_LABELS_PREFIX } from "./security-labels.ts";

const K8S_PREFIX = `${K8S_LABEL_SOURCE}:`;
const NAMESPACE_LABEL_KEY_PREFIX = K8S_PREFIX + NAMESPACE_LABELS_PREFIX;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function ciliumIdentityObject(
  id: number,
  securityLabels: Readonly<Record<string, string>>,
): CiliumIdentity {
  return {
    apiVersion: "cilium.io/v2",
    kind: "CiliumIdentity",
    metadata: { name: String(id), labels: identityMetadataLabels(securityLabels) },
    "security-labels": { ...securityLabels },
  };
}

/**
 * metadata.labels exist only so `kubectl get ciliumid -l app=web` (and the Namespace column, read
 * from io.kubernetes.pod.namespace) work; the identity itself is security-labels. Like Cilium's
 * sanitizeK8sLabels: only k8s-source labels, "k8s:" stripped, and without the synthesized
 * namespace-label keys, whose user-chosen suffix easily breaks the 63-character name limit. We also
 * drop anything else Kubernetes would reject as a label, since the API serves these objects as-is.
 */
export function identityMetadataLabels(
  securityLabels: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(securityLabels).sort()) {
    if (!key.startsWith(K8S_PREFIX) || key.startsWith(NAMESPACE_LABEL_KEY_PREFIX)) continue;
    const labelKey = key.slice(K8S_PREFIX.length);
    const value = securityLabels[key] as string;
    if (isValidLabelKey(labelKey) && isValidLabelValue(value)) out[labelKey] = value;
  }
  return out;
}

function isValidLabelKey(key: string): boolean {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

function isValidLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && LABEL_NAME.test(value));
}
