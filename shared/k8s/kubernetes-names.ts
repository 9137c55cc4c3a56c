/**
 * Kubernetes' own name and label syntax (k8s.io/apimachinery/pkg/util/validation), so sliceline
 * accepts exactly the objects an API server could have stored and nothing a hostile or broken
 * producer invents: a name or label it accepts can always be written back as a Kubernetes object.
 */

export const DNS1123_LABEL_MAX_LENGTH = 63;
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
const QUALIFIED_NAME_MAX_LENGTH = 63;
const LABEL_VALUE_MAX_LENGTH = 63;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** The name part of a label key, and a non-empty label value. */
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function isDns1123Label(text: string): boolean {
  return text.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL.test(text);
}

export function isDns1123Subdomain(text: string): boolean {
  return text.length <= DNS1123_SUBDOMAIN_MAX_LENGTH && DNS1123_SUBDOMAIN.test(text);
}

/** Why a label key is not a Kubernetes qualified name (`[prefix/]name`), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return `key ${quote(key)} has more than one '/'`;
  const name = parts.length === 2 ? (parts[1] as string) : key;
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix.length === 0) return `key ${quote(key)} has an empty prefix`;
    if (!isDns1123Subdomain(prefix)) {
      return `key ${quote(key)}: the prefix must be a DNS-1123 subdomain of at most ${DNS1123_SUBDOMAIN_MAX_LENGTH} characters`;
    }
  }
  if (name.length === 0) return `key ${quote(key)} has an empty name`;
  if (name.length > QUALIFIED_NAME_MAX_LENGTH) {
    return `key ${quote(key)}: the name is longer than ${QUALIFIED_NAME_MAX_LENGTH} characters`;
  }
  if (!QUALIFIED_NAME.test(name)) {
    return `key ${quote(key)}: the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  }
  return undefined;
}

/** Why a label value is not valid in Kubernetes, or undefined when it is (empty is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > LABEL_VALUE_MAX_LENGTH) {
    return `value ${quote(value)} is longer than ${LABEL_VALUE_MAX_LENGTH} characters`;
  }
  if (!QUALIFIED_NAME.test(value)) {
    return `value ${quote(value)} must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  }
  return undefined;
}

/** Quoted and cut short: a reason must stay readable whatever the producer sent. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
