// Pod Security Standards "restricted" profile (plus the chart's own rule: read-only root filesystem),
// checked on a pod spec. Returns the list of violations, each naming the container and field.
type Ctx = Record<string, any> | undefined;

const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

export function restrictedViolations(spec: Record<string, any>): string[] {
  const out: string[] = [];
  const pod: Ctx = spec.securityContext;
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[f]) out.push(`spec.${f} is true`);
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.has(type)) out.push(`volume ${v.name}: type ${type} is not allowed`);
  }
  const podSeccomp = pod?.seccompProfile?.type;
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const sc: Ctx = c.securityContext;
    const where = `container ${c.name}`;
    if (sc?.privileged) out.push(`${where}: privileged`);
    if (sc?.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation must be false`);
    const nonRoot = sc?.runAsNonRoot ?? pod?.runAsNonRoot;
    if (nonRoot !== true) out.push(`${where}: runAsNonRoot must be true`);
    if ((sc?.runAsUser ?? pod?.runAsUser) === 0) out.push(`${where}: runAsUser 0`);
    const seccomp = sc?.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${where}: seccompProfile must be RuntimeDefault or Localhost`);
    const drop: string[] = sc?.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) out.push(`${where}: capabilities must drop ALL`);
    const add: string[] = sc?.capabilities?.add ?? [];
    if (add.some((a) => a !== 'NET_BIND_SERVICE')) out.push(`${where}: capabilities.add ${add.join(',')}`);
    if (sc?.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem must be true`);
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${where}: hostPort ${p.hostPort}`);
  }
  return out;
}

/** The pod spec inside any workload (Pod, Deployment, StatefulSet, Job, CronJob), or undefined. */
export function podSpecOf(obj: Record<string, any>): Record<string, any> | undefined {
  switch (obj.kind) {
    case 'Pod':
      return obj.spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return obj.spec?.template?.spec;
    case 'CronJob':
      return obj.spec?.jobTemplate?.spec?.template?.spec;
    default:
      return undefined;
  }
}

export function podLabelsOf(obj: Record<string, any>): Record<string, string> {
  if (obj.kind === 'Pod') return obj.metadata?.labels ?? {};
  if (obj.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template?.metadata?.labels ?? {};
  return obj.spec?.template?.metadata?.labels ?? {};
}
