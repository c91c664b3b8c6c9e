// CPU seconds spent by the client (pgbench), the pooler and PostgreSQL during a run: where the time of one
// transaction goes on a shared 2-core machine. Parsers are pure (unit-tested); the readers use /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export type ProcStat = { pid: number; ppid: number; utime: number; stime: number; cutime: number; cstime: number };

/** Parses /proc/<pid>/stat (times in clock ticks). The command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc stat line: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // Fields after the name start at field 3 (state); ppid is field 4, utime..cstime are fields 14..17.
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const n = (field: number) => Number(f[field - 3]);
  return { pid, ppid: n(4), utime: n(14), stime: n(15), cutime: n(16), cstime: n(17) };
}

/** Parses the output of bash's `times` builtin: the second line is the children's user and system time. */
export function parseBashTimes(text: string): { user: number; system: number } {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()));
  const last = lines.at(-1);
  if (!last || lines.length < 2) throw new Error(`no output of bash \`times\` in: ${text.slice(-200)}`);
  const [user, system] = last
    .trim()
    .split(' ')
    .map((t) => {
      const m = /^(\d+)m([\d.]+)s$/.exec(t)!;
      return Number(m[1]) * 60 + Number(m[2]);
    });
  return { user: user!, system: system! };
}

/** Busy CPU ticks of the whole machine from /proc/stat's first line (everything but idle and iowait). */
export function parseMachineBusy(procStat: string): number {
  const line = procStat.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) throw new Error('/proc/stat has no cpu line');
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return user! + nice! + system! + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
}

let tick: number | undefined;
const clockTick = () => (tick ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);

function stat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine has been busy (all processes, all cores). */
export function machineCpu(): number {
  return parseMachineBusy(readFileSync('/proc/stat', 'utf8')) / clockTick();
}

/** CPU seconds of one process (its own threads). */
export function processCpu(pid: number): number {
  const s = stat(pid);
  return s ? (s.utime + s.stime) / clockTick() : 0;
}

/**
 * CPU seconds of a process, of its children that exited and were reaped (cutime/cstime) and of its live children:
 * a PostgreSQL postmaster and its backends. Approximate: a child alive at one sample and reaped by the next counts
 * its whole life.
 */
export function treeCpu(pid: number): number {
  const root = stat(pid);
  if (!root) return 0;
  let ticks = root.utime + root.stime + root.cutime + root.cstime;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s && s.ppid === pid) ticks += s.utime + s.stime + s.cutime + s.cstime;
  }
  return ticks / clockTick();
}
