// NOTES.txt as `helm install db --dry-run=client --namespace prod` prints it with the given arguments.
import { helm } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';

export function notesOf(args: string[]): string {
  const r = helm(['install', 'db', chartDir, '--dry-run=client', '--namespace', 'prod', ...args]);
  if (r.status !== 0) throw new Error(`helm install --dry-run ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.slice(r.stdout.indexOf('NOTES:'));
}
