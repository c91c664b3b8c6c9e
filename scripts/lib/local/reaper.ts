// The local cluster's reaper: a detached process (its own session, so a Ctrl-C to the terminal's process group
// does not reach it) that tears the cluster down when the process that brought it up is gone, however it went:
// a signal its parent did not forward, a wrapper that killed it mid-teardown, SIGKILL, a crash.
// Usage: node --import tsx reaper.ts <cluster name> <owner pid>
import { alive, loadState, running, teardown } from './state.ts';

const [name, ownerArg] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!name || !Number.isInteger(owner) || owner < 2) {
  console.error('usage: reaper.ts <name> <owner pid>');
  process.exit(2);
}

// Lives as long as its owner: a cluster stopped and started again by the same process keeps one reaper.
for (;;) {
  let s;
  try {
    s = loadState(name);
  } catch (err) {
    // Never give up on a state file that cannot be read this once: the cluster would be left running.
    console.log(`${new Date().toISOString()} state of ${name} unreadable, retrying: ${(err as Error).message}`);
    await new Promise((r) => setTimeout(r, 250));
    continue;
  }
  // Purged, or taken over by a newer run (which has its own reaper): nothing to do.
  if (!s || s.owner !== owner) process.exit(0);
  if (!alive(owner)) {
    if (running(s)) {
      console.log(`${new Date().toISOString()} owner ${owner} is gone: tearing ${name} down`);
      await teardown(s, { keepData: s.persist });
    }
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, 250));
}
