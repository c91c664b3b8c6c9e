// The only place that runs helm for rendering: render(values) -> typed objects.
import { execFile, spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { chartDir, toolPath } from './tools.ts';
import type { SetValues } from '../../schema/values-paths.ts';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: any };
  [key: string]: any;
};

export type RenderOptions = {
  /** values files, in order */
  values?: string[];
  /** --set key=value pairs (helm's --set syntax), keys checked against the values model */
  set?: SetValues;
  release?: string;
  namespace?: string;
  /** extra helm template arguments (e.g. --show-only) */
  args?: string[];
  chart?: string;
  /** a Kubernetes API server for `lookup` (helm template --dry-run=server); none: lookups return nothing */
  apiServer?: string;
};

export type Rendered = { text: string; objects: K8sObject[] };

export class RenderError extends Error {}

function helmArgs(o: RenderOptions): string[] {
  const args = ['template', o.release ?? 'db', o.chart ?? chartDir, '--namespace', o.namespace ?? 'default'];
  for (const f of o.values ?? []) args.push('--values', f);
  for (const [k, v] of Object.entries(o.set ?? {})) args.push('--set', `${k}=${v}`);
  if (o.apiServer) args.push('--dry-run=server', '--disable-openapi-validation', '--kube-apiserver', o.apiServer);
  return [...args, ...(o.args ?? [])];
}

/** Runs `helm template`; throws RenderError carrying helm's message when the chart refuses the values. */
export function render(o: RenderOptions = {}): Rendered {
  // spawnSync would block the event loop a test's fake API server answers on: renderAsync for those.
  const r = spawnSync(toolPath('helm'), helmArgs(o), { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new RenderError((r.stderr || r.stdout || `helm exited ${r.status}`).trim());
  return { text: r.stdout, objects: parseObjects(r.stdout) };
}

/** render() without blocking the event loop (needed when the API server runs in this process). */
export function renderAsync(o: RenderOptions): Promise<Rendered> {
  return new Promise((resolve, reject) => {
    execFile(
      toolPath('helm'),
      helmArgs(o),
      { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, KUBECONFIG: '/dev/null' } },
      (err, stdout, stderr) => {
        if (err) reject(new RenderError((stderr || stdout || err.message).trim()));
        else resolve({ text: stdout, objects: parseObjects(stdout) });
      },
    );
  });
}

/** Parses a multi-document YAML stream, refusing any document with errors. */
export function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  // YAML 1.1, as the Kubernetes API reads manifests (0640 is octal, on/off are booleans).
  for (const doc of parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const obj = doc.toJS();
    if (obj) objects.push(obj as K8sObject);
  }
  return objects;
}

/** Runs helm with arbitrary arguments (lint, package, push...). */
export function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(toolPath('helm'), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export const find = (objects: K8sObject[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

export const one = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const found = find(objects, kind, name);
  if (found.length !== 1)
    throw new Error(
      `expected one ${kind}/${name}, found ${found.length}: ${objects
        .filter((o) => o.kind === kind)
        .map((o) => o.metadata.name)
        .join(', ')}`,
    );
  return found[0]!;
};
