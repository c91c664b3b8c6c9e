// Every install scenario (charts/pgfleet/ci/*-values.yaml, examples/values-*.yaml) renders, every object is a
// valid Kubernetes object, every pod is "restricted", every workload is covered by a NetworkPolicy, and the
// names and labels follow the chart's rules.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { find, render, type K8sObject } from '../../scripts/lib/helm.ts';
import { validateObject } from '../lib/k8s.ts';
import { podLabelsOf, podSpecOf, restrictedViolations } from '../lib/podsecurity.ts';
import { mergedValues, scenarioFiles } from '../lib/values.ts';
import { expand } from '../../scripts/lib/local/pod.ts';

const SELECTOR_KEYS = new Set(['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component', 'pgfleet.io/shard', 'pgfleet.io/pool']);
const matches = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);

for (const file of scenarioFiles()) {
  const name = file.replace(/.*\//, '');
  const s = suite(`scenario ${name}`);
  let objects: K8sObject[] = [];
  s.before(() => {
    objects = render({ values: [file], release: 'scenario' }).objects;
  });

  s('every object validates against its Kubernetes schema', async () => {
    assert.ok(objects.length > 5);
    for (const o of objects) await validateObject(o);
  });
  s('every pod passes Pod Security "restricted" with a read-only root filesystem', () => {
    const bad = objects.flatMap((o) => {
      const spec = podSpecOf(o);
      return spec ? restrictedViolations(spec).map((v) => `${o.kind}/${o.metadata.name}: ${v}`) : [];
    });
    assert.equal(bad, []);
  });
  s('every container has resources and a pinned image', () => {
    for (const o of objects) {
      for (const c of [...(podSpecOf(o)?.initContainers ?? []), ...(podSpecOf(o)?.containers ?? [])]) {
        assert.ok(c.resources?.requests, `${o.kind}/${o.metadata.name} ${c.name}: no resource requests`);
        assert.not.match(c.image, /:latest$|^[^:@]+$/, `${o.kind}/${o.metadata.name} ${c.name}: unpinned image ${c.image}`);
      }
    }
  });
  s('commands and arguments reach the container as written: Kubernetes turns `$$` into `$` and `$(NAME)` into an env value', () => {
    for (const o of objects) {
      for (const c of [...(podSpecOf(o)?.initContainers ?? []), ...(podSpecOf(o)?.containers ?? [])]) {
        const vars = Object.fromEntries((c.env ?? []).map((e: { name: string }) => [e.name, '\u0000']));
        for (const a of [...(c.command ?? []), ...(c.args ?? [])]) {
          const changed = expand(String(a), vars) !== String(a);
          assert.not.ok(
            changed,
            `${o.kind}/${o.metadata.name} ${c.name}: Kubernetes would rewrite ${JSON.stringify(String(a).match(/.{0,30}\$(\$|\([A-Za-z_][\w.-]*\)).{0,30}/s)?.[0])}`,
          );
        }
      }
    }
  });
  s('names: unique per kind, <= 63 characters, StatefulSets <= 52', () => {
    const seen = new Set<string>();
    for (const o of objects) {
      const key = `${o.kind}/${o.metadata.name}`;
      assert.not.ok(seen.has(key), `duplicate ${key}`);
      seen.add(key);
      assert.ok(o.metadata.name.length <= 63, `${key} is longer than 63`);
      if (o.kind === 'StatefulSet') assert.ok(o.metadata.name.length <= 52, `${key} is longer than 52`);
    }
  });
  s("selectors use only the chart's selector labels (plus Patroni's role and scope on Services)", () => {
    for (const o of objects) {
      const sel = o.kind === 'Service' ? o.spec.selector : o.spec?.selector?.matchLabels;
      if (!sel) continue;
      for (const k of Object.keys(sel)) {
        const ok = SELECTOR_KEYS.has(k) || (o.kind === 'Service' && (k === 'role' || k === 'cluster-name'));
        assert.ok(ok, `${o.kind}/${o.metadata.name} selects on ${k}`);
      }
    }
  });
  s('every workload is selected by a NetworkPolicy when they are enabled', () => {
    if (!mergedValues(file).networkPolicy || !(mergedValues(file).networkPolicy as any).enabled) return;
    const policies = find(objects, 'NetworkPolicy');
    for (const o of objects) {
      if (!podSpecOf(o) || o.metadata.annotations?.['helm.sh/hook']) continue;
      const labels = podLabelsOf(o);
      assert.ok(
        policies.some((p) => matches(p.spec.podSelector.matchLabels ?? {}, labels)),
        `${o.kind}/${o.metadata.name} is not covered by any NetworkPolicy`,
      );
    }
  });
  s('no cluster-wide RBAC', () => {
    assert.is(find(objects, 'ClusterRole').length + find(objects, 'ClusterRoleBinding').length, 0);
  });
  s.run();
}
