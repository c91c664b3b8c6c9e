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

export const str = (description: string, def: string, extra: Extra = {}): Schema => ({ type: 'string', description, default: def, ...extra });

export const int = (description: string, def: number, extra: Extra = {}): Schema => ({ type: 'integer', description, default: def, ...extra });

export const num = (description: string, def: number, extra: Extra = {}): Schema => ({ type: 'number', description, default: def, ...extra });

export const bool = (description: string, def: boolean): Schema => ({ type: 'boolean', description, default: def });

export const oneOf = <T extends string | number>(description: string, values: readonly T[], def: T): Schema => ({
  type: typeof def === 'number' ? 'integer' : 'string',
  description,
  enum: [...values],
  default: def,
});

export const list = (description: string, items: Schema, def: unknown[] = [], extra: Extra = {}): Schema => ({
  type: 'array',
  description,
  items,
  default: def,
  ...extra,
});

/** A free-form map (labels, annotations, parameters): values are checked by `values` when given. */
export const map = (description: string, values: Schema | true = true, def: Record<string, unknown> = {}, extra: Extra = {}): Schema => ({
  type: 'object',
  description,
  additionalProperties: values,
  default: def,
  ...extra,
});

/**
 * A map whose keys follow `keyPattern` (refused otherwise, naming the map and the key) and whose values follow `values`.
 */
const keyedMap = (description: string, keyPattern: string, values: Schema, def: Record<string, string>): Schema => ({
  type: 'object',
  description,
  patternProperties: { [keyPattern]: values },
  additionalProperties: false,
  default: def,
});

/** Kubernetes labels (or a node selector): label keys to label values, as the API server would check them. */
export const labels = (description: string, def: Record<string, string> = {}): Schema =>
  keyedMap(description, LABEL_KEY, { type: 'string', pattern: LABEL_VALUE, maxLength: 63 }, def);

/** Kubernetes annotations: label-key grammar for the keys, any text for the values (always emitted as YAML strings). */
export const annotations = (description: string, def: Record<string, string> = {}): Schema => keyedMap(description, LABEL_KEY, { type: 'string' }, def);

/** Prometheus labels (on alerts): Prometheus' label-name grammar for the keys, any text for the values. */
export const promLabels = (description: string): Schema => keyedMap(description, '^[a-zA-Z_][a-zA-Z0-9_]*$', { type: 'string' }, {});

/** A closed object: unknown keys are refused. Its default is assembled from its children. */
export const obj = (description: string, properties: Record<string, Schema>, extra: Extra = {}): Schema => ({
  type: 'object',
  description,
  additionalProperties: false,
  properties,
  ...extra,
});

export const K8S_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const QUANTITY = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';
/** A quantity that may also be in thousandths (`500m` CPU). */
const QUANTITY_M = '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$';
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
/** A label value: empty, or up to 63 alphanumerics, `-`, `_` and `.`, beginning and ending alphanumeric. */
export const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** A DNS-1123 subdomain (a Secret or Issuer name, an API group). */
export const SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Any text on one line: no control character (a line break would start a new line in a line-based file). */
export const ONE_LINE = '^[^\\x00-\\x1f\\x7f]*$';
/** Image reference parts, as the distribution reference grammar has them: host[:port], path components, tag. */
export const REGISTRY = '^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?$';
export const REPOSITORY = '^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$';
/** A repository that begins with a registry host: `localhost/` or a first component with a `.`. */
export const REGISTRY_PREFIX = '^(localhost|[^/]*\\.[^/]*)/';
export const TAG = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$';
/**
 * A PostgreSQL role name the chart creates or writes into pg_hba.conf unquoted: a lower-case identifier of at most 63
 * bytes, never `pg_*` (reserved for built-in roles), a role-spec keyword (`public`, `current_user`, ...) or a pg_hba
 * keyword (`all`, `replication`, ...) that would widen a pg_hba line. The schema checks the grammar; the template
 * (pgfleet.validate.roles) refuses the reserved names with a message saying why.
 */
export const RESERVED_ROLES = ['public', 'none', 'current_role', 'current_user', 'session_user', 'all', 'sameuser', 'samerole', 'samegroup', 'replication'];
export const role = (description: string, def: string): Schema =>
  str(`${description} Not \`pg_*\` or a reserved word (${RESERVED_ROLES.map((r) => `\`${r}\``).join(', ')}).`, def, { pattern: '^[a-z_][a-z0-9_]{0,62}$' });

/**
 * Container resources as a closed Kubernetes ResourceRequirements: `requests` and `limits` map resource names (`cpu`,
 * `memory`, `ephemeral-storage`, `hugepages-<size>` or a `domain/name` extended resource) to quantities. Requests above
 * their limits are refused at render time (pgfleet.validate.resources), before the API server would.
 */
const RESOURCE_NAME = '^(cpu|memory|ephemeral-storage|hugepages-[0-9]+(Ki|Mi|Gi)|[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-A-Za-z0-9_.]{1,63})$';
const quantities = (what: string): Schema => ({
  type: 'object',
  description: what,
  additionalProperties: false,
  patternProperties: { [RESOURCE_NAME]: { type: ['string', 'number'], pattern: QUANTITY_M, minimum: 0 } },
});
export const resources = (description: string, requests: Record<string, string>, limits: Record<string, string>): Schema => ({
  ...obj(
    `${description} \`requests\` and \`limits\` map \`cpu\`, \`memory\`, \`ephemeral-storage\`, \`hugepages-<size>\` or a \`domain/name\` resource to a quantity (\`500m\`, \`1.5\`, \`2Gi\`, \`1G\`); a request above its limit is refused.`,
    { requests: quantities('Resources the scheduler reserves.'), limits: quantities('Hard limits.') },
  ),
  default: { requests, limits },
});

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
