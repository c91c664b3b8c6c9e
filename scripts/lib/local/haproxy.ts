// Service stand-ins: one HAProxy listener per ClusterIP Service port, every pod that could back the Service listed
// as a server that starts disabled. HAProxy checks nothing itself: the endpoints controller (endpoints.ts, run by
// the backend) enables a server while its pod is a ready endpoint of the Service, through HAProxy's runtime API,
// as kube-proxy follows EndpointSlices. Established connections stay where they are, as with kube-proxy.
import { connect } from 'node:net';

export type Backend = { name: string; ip: string; port: number };
export type Listener = { name: string; bind: string; port: number; backends: Backend[] };

export function haproxyConfig(listeners: Listener[], opts: { pidfile: string; socket: string }): string {
  const out = [
    'global',
    '  maxconn 4096',
    `  pidfile ${opts.pidfile}`,
    `  stats socket ${opts.socket} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    // kube-proxy forwards once: a refused connection reaches the client at once (no retries, no redispatch).
    '  retries 0',
    '  timeout client 1h',
    '  timeout server 1h',
    '',
  ];
  for (const l of listeners) {
    out.push(`listen ${l.name}`, `  bind ${l.bind}:${l.port}`, '  balance roundrobin');
    for (const b of l.backends) out.push(`  server ${b.name} ${b.ip}:${b.port} disabled`);
    out.push('');
  }
  return out.join('\n');
}

/** Sends one command to HAProxy's runtime API (a Unix socket); resolves with its answer. */
export function haproxyCommand(socket: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = connect({ path: socket }, () => s.end(`${command}\n`));
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      reject(new Error(`HAProxy runtime API: ${command}: timed out`));
    });
    s.on('data', (d) => {
      out += d;
    })
      .on('error', reject)
      .on('close', () => resolve(out.trim()));
  });
}
