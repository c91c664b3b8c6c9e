// `npm run local -- down [name]`: removes what a crashed local cluster left (recorded PIDs, namespaces, bridge,
// directories under .local/). `npm run local -- status` lists recorded clusters.
import { listStates, loadState, stateRoot, teardown } from './lib/local/state.ts';
import { namespacePids } from './lib/local/net.ts';

const [cmd, name] = process.argv.slice(2);
if (cmd === 'down') {
  const names = name ? [name] : listStates();
  if (!names.length) console.log(`no local cluster recorded under ${stateRoot()}`);
  for (const n of names) {
    const s = loadState(n);
    if (!s) { console.log(`${n}: nothing recorded`); continue; }
    await teardown(s);
    console.log(`${n}: stopped ${s.namespaces.length} namespaces${s.bridge ? `, removed bridge ${s.bridge}` : ''}, removed ${s.dir}`);
  }
} else if (cmd === 'status') {
  for (const n of listStates()) {
    const s = loadState(n)!;
    const procs = s.namespaces.reduce((a, ns) => a + namespacePids(ns).length, 0);
    console.log(`${n}: started ${s.startedAt}, ${s.namespaces.length} namespaces, ${procs} processes running`);
  }
} else {
  console.error('usage: npm run local -- down [name] | status');
  process.exit(2);
}
