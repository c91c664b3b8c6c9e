// Small argument parser shared by the entry points: -f/--values FILE (repeatable), --set k=v (repeatable),
// --flag value, --bool, and positionals.
export type Args = { positionals: string[]; values: string[]; set: Record<string, string>; flags: Record<string, string | true> };

export function parseArgs(argv: string[], booleans: string[] = []): Args {
  const a: Args = { positionals: [], values: [], set: {}, flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    if (x === '-f' || x === '--values') a.values.push(next());
    else if (x === '--set') {
      const kv = next();
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`--set ${kv}: expected key=value`);
      a.set[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (x.startsWith('--')) {
      const [k, inline] = x.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      a.flags[k] = inline ?? (booleans.includes(k) ? true : next());
    } else a.positionals.push(x);
  }
  return a;
}
