// An etcd cluster for a release with `patroni.dcs.type: etcd3` on kind (ci/02-etcd3-values.yaml): a StatefulSet of
// kind's own etcd image, already in every node's containerd, behind a headless Service named `etcd`, so members
// answer as `etcd-<i>.etcd:2379` in the release's namespace. Plain HTTP, data on emptyDir: a fixture, not a
// production etcd.
import { KIND } from '../versions.ts';

export const ETCD_IMAGE = `registry.k8s.io/etcd:${KIND.etcd}-0`;

/** The Service and the StatefulSet, as one `kind: List` for `kubectl apply -f -`. */
export function etcdFixture(namespace: string, members = 3): object {
  const names = Array.from({ length: members }, (_, i) => `etcd-${i}`);
  const labels = { 'app.kubernetes.io/name': 'etcd', 'app.kubernetes.io/part-of': 'pgfleet-e2e' };
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'etcd', namespace, labels },
        spec: {
          clusterIP: 'None',
          // peers must resolve each other before any of them is ready
          publishNotReadyAddresses: true,
          selector: labels,
          ports: [
            { name: 'client', port: 2379 },
            { name: 'peer', port: 2380 },
          ],
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'etcd', namespace, labels },
        spec: {
          serviceName: 'etcd',
          replicas: members,
          // all at once: a single member waits for a quorum that would never be started
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'etcd',
                  image: ETCD_IMAGE,
                  imagePullPolicy: 'Never',
                  command: ['etcd'],
                  env: [{ name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
                  args: [
                    '--name=$(NAME)',
                    '--data-dir=/var/lib/etcd/data',
                    '--listen-client-urls=http://0.0.0.0:2379',
                    '--advertise-client-urls=http://$(NAME).etcd:2379',
                    '--listen-peer-urls=http://0.0.0.0:2380',
                    '--initial-advertise-peer-urls=http://$(NAME).etcd:2380',
                    `--initial-cluster=${names.map((n) => `${n}=http://${n}.etcd:2380`).join(',')}`,
                    '--initial-cluster-state=new',
                    `--initial-cluster-token=${namespace}`,
                  ],
                  ports: [{ containerPort: 2379 }, { containerPort: 2380 }],
                  readinessProbe: { httpGet: { path: '/readyz', port: 2379 }, periodSeconds: 2 },
                  resources: { requests: { cpu: '20m', memory: '64Mi' } },
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                  volumeMounts: [{ name: 'data', mountPath: '/var/lib/etcd' }],
                },
              ],
              volumes: [{ name: 'data', emptyDir: {} }],
            },
          },
        },
      },
    ],
  };
}
