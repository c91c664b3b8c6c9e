// A tiny builder for the values model. Every node is a draft-07 JSON Schema fragment carrying its
// description and default; objects are closed (additionalProperties: false) unless declared free-form.
// scripts/generate.ts turns the model into values.schema.json, values.yaml and the README values table.

export type Schema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  [key: string]: unknown;
};

type Extra = Omit<Schema, 'description' | 'default'>;

export const str = (description: string, def: string, extra: Extra = {}): Schema =>
  ({ type: 'string', description, default: def, ...extra });

export const int = (description: string, def: number, extra: Extra = {}): Schema =>
  ({ type: 'integer', description, default: def, ...extra });

export const num = (description: string, def: number, extra: Extra = {}): Schema =>
  ({ type: 'number', description, default: def, ...extra });

export const bool = (description: string, def: boolean): Schema =>
  ({ type: 'boolean', description, default: def });

export const oneOf = <T extends string | number>(description: string, values: readonly T[], def: T): Schema =>
  ({ type: typeof def === 'number' ? 'integer' : 'string', description, enum: [...values], default: def });

export const list = (description: string, items: Schema, def: unknown[] = [], extra: Extra = {}): Schema =>
  ({ type: 'array', description, items, default: def, ...extra });

/** A free-form map (labels, annotations, parameters): values are checked by `values` when given. */
export const map = (description: string, values: Schema | true = true, def: Record<string, unknown> = {}, extra: Extra = {}): Schema =>
  ({ type: 'object', description, additionalProperties: values, default: def, ...extra });

/** A closed object: unknown keys are refused. Its default is assembled from its children. */
export const obj = (description: string, properties: Record<string, Schema>, extra: Extra = {}): Schema =>
  ({ type: 'object', description, additionalProperties: false, properties, ...extra });

/** A Kubernetes object passed through as-is (affinity, resources, peers): any object. */
export const k8s = (description: string, def: Record<string, unknown> = {}): Schema =>
  ({ type: 'object', description, default: def });

export const K8S_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const QUANTITY = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/**
 * An IPv4 CIDR (four octets 0-255, prefix 0-32) or an IPv6 one (hex groups and colons, at least one colon, an
 * optional dotted tail, prefix 0-128), as a NetworkPolicy ipBlock takes it.
 */
export const CIDR = `^((${OCTET}\\.){3}${OCTET}/(3[0-2]|[12]?[0-9])|[0-9a-fA-F]*:[0-9a-fA-F:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$`;
/** A DNS-1123 subdomain (StorageClass and PriorityClass names), or empty. */
export const SUBDOMAIN_OR_EMPTY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$';
/** A label key: an optional DNS subdomain prefix and `/`, then a name of alphanumerics, `-`, `_` and `.`. */
export const LABEL_KEY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
/** Image reference parts, as the distribution reference grammar has them: host[:port], path components, tag. */
export const REGISTRY = '^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?$';
export const REPOSITORY = '^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$';
export const TAG = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$';
/** Five-field cron expression or a @macro. Checked more strictly at render time where helm allows. */
export const CRON = '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\\S+\\s+){4}\\S+)$';

/** The default of a node: its own, or for closed objects the defaults of its children. */
export function defaults(node: Schema): unknown {
  if (node.default !== undefined) return structuredClone(node.default);
  if (node.type === 'object' && node.properties) {
    return Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, defaults(v)]));
  }
  return undefined;
}
