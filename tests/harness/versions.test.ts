// One source for the versions the project installs outside npm (scripts/lib/versions.ts): the image's Dockerfile,
// the chart's default image tag and tier 2's Patroni must agree, or the tier-2 drills prove another Patroni.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { IMAGE_TAG, KIND, PATRONI, PGBACKREST_IMAGE, POSTGRES_IMAGE } from '../../scripts/lib/versions.ts';
import { chartDir, root } from '../../scripts/lib/tools.ts';

const versions = suite('versions: one source');
const dockerfile = readFileSync(join(root, 'images', 'postgres', 'Dockerfile'), 'utf8');
const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1];

versions('images/postgres/Dockerfile builds the Patroni, pgBackRest and PostgreSQL that versions.ts names', () => {
  assert.is(arg('PATRONI_VERSION'), PATRONI);
  assert.is(arg('PGBACKREST_VERSION'), PGBACKREST_IMAGE);
  assert.match(dockerfile, new RegExp(`^FROM postgres:${POSTGRES_IMAGE.replace('.', '\\.')}-bookworm$`, 'm'));
});

versions('the chart defaults to the image tag built from those versions, and Patroni is a 4.1 release', () => {
  assert.is(parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')).image.tag, IMAGE_TAG);
  assert.match(PATRONI, /^4\.1\.\d+$/);
});

versions('tier 3 builds the Go modules at the versions versions.ts names (images/kind/go.mod and tools/*/go.mod)', () => {
  const required = (dir: string, module: string) => {
    const gomod = readFileSync(join(root, 'images', 'kind', dir, 'go.mod'), 'utf8');
    return new RegExp(`^\\s*(?:require )?${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(gomod)?.[1];
  };
  assert.is(required('.', 'k8s.io/kubernetes'), KIND.kubernetes);
  assert.is(required('.', 'k8s.io/client-go'), KIND.kubernetes.replace('v1.', 'v0.'), 'staging modules are replaced by the matching release');
  assert.is(required('.', 'sigs.k8s.io/kind'), KIND.kind);
  assert.is(required('.', 'sigs.k8s.io/cri-tools'), KIND.crictl);
  assert.is(required('tools/etcd', 'go.etcd.io/etcd/server/v3'), `v${KIND.etcd}`);
  assert.is(required('tools/coredns', 'github.com/coredns/coredns'), KIND.coredns);
  assert.is(required('tools/local-path-provisioner', 'github.com/rancher/local-path-provisioner'), KIND.localPathProvisioner);
});

versions.run();
