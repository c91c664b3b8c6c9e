// A minimal Kubernetes API server on 127.0.0.1 for `helm template --dry-run=server`: discovery for the kinds the
// chart renders, and GET/LIST of the objects a test puts in it. It lets tests exercise the chart's `lookup`
// logic (secrets reused on upgrade, guards against unsafe changes) as a real upgrade would see it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { K8sObject } from '../../scripts/lib/helm.ts';

const KINDS: [group: string, version: string, kind: string, plural: string][] = [
  ['', 'v1', 'ConfigMap', 'configmaps'],
  ['', 'v1', 'Secret', 'secrets'],
  ['', 'v1', 'Service', 'services'],
  ['', 'v1', 'ServiceAccount', 'serviceaccounts'],
  ['', 'v1', 'Pod', 'pods'],
  ['', 'v1', 'Endpoints', 'endpoints'],
  ['', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims'],
  ['apps', 'v1', 'StatefulSet', 'statefulsets'],
  ['apps', 'v1', 'Deployment', 'deployments'],
  ['batch', 'v1', 'Job', 'jobs'],
  ['batch', 'v1', 'CronJob', 'cronjobs'],
  ['policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets'],
  ['networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies'],
  ['rbac.authorization.k8s.io', 'v1', 'Role', 'roles'],
  ['rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'],
  ['cert-manager.io', 'v1', 'Certificate', 'certificates'],
  ['monitoring.coreos.com', 'v1', 'ServiceMonitor', 'servicemonitors'],
  ['monitoring.coreos.com', 'v1', 'PodMonitor', 'podmonitors'],
  ['monitoring.coreos.com', 'v1', 'PrometheusRule', 'prometheusrules'],
];

export type FakeApiServer = { url: string; requests: string[]; close(): Promise<void> };

/** Serves `installed` as if `helm install <release>` had created them in `namespace`. */
export async function startFakeApiServer(installed: K8sObject[], release = 'db', namespace = 'default'): Promise<FakeApiServer> {
  const requests: string[] = [];
  const objects = installed.map((o) => ({
    ...o,
    metadata: {
      ...o.metadata,
      namespace,
      annotations: { ...o.metadata.annotations, 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': namespace },
    },
  }));
  const json = (res: any, body: unknown, code = 200) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: any) => json(res, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }, 404);
  const groups = [...new Set(KINDS.filter(([g]) => g).map(([g, v]) => `${g}/${v}`))];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    requests.push(`${req.method} ${path}`);
    if (path === '/version') return json(res, { major: '1', minor: '34', gitVersion: 'v1.34.0', platform: 'linux/amd64' });
    if (path === '/api') return json(res, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') {
      return json(res, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name, version] = gv.split('/');
          return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
        }),
      });
    }
    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (discovery) {
      const [group, version] = discovery[1] ? ['', 'v1'] : [discovery[2]!, discovery[3]!];
      const resources = KINDS.filter(([g, v]) => g === group && v === version).map(([, , kind, name]) => ({
        name,
        singularName: kind.toLowerCase(),
        namespaced: true,
        kind,
        verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
      }));
      return resources.length
        ? json(res, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : 'v1', resources })
        : notFound(res);
    }
    const item = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (item && req.method === 'GET') {
      const [, group = '', version = 'v1', ns, plural, name] = item;
      const kind = KINDS.find(([g, v, , p]) => g === group && v === version && p === plural)?.[2];
      const apiVersion = group ? `${group}/${version}` : 'v1';
      const matching = objects.filter((o) => o.kind === kind && o.apiVersion === apiVersion && (o.metadata.namespace ?? namespace) === ns);
      if (name) {
        const found = matching.find((o) => o.metadata.name === name);
        return found ? json(res, found) : notFound(res);
      }
      return json(res, { kind: `${kind}List`, apiVersion, metadata: {}, items: matching });
    }
    notFound(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
