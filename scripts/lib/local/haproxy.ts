// Service stand-ins: one HAProxy listener per ClusterIP Service port. Services that select on Patroni's role
// label health-check Patroni's REST API (/primary or /replica: the signal Patroni's role label follows);
// the others (poolers) check that the port accepts connections, as endpoints follow pod readiness.

export type Backend = { name: string; ip: string; port: number; checkPort?: number; checkPath?: string };
export type Listener = { name: string; bind: string; port: number; backends: Backend[]; balance?: 'first' | 'roundrobin' };

export function haproxyConfig(listeners: Listener[], opts: { pidfile: string; stats?: string }): string {
  const out = [
    'global',
    '  maxconn 4096',
    `  pidfile ${opts.pidfile}`,
    ...(opts.stats ? [`  stats socket ${opts.stats} mode 600 level admin`] : []),
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    // kube-proxy forwards once: a refused connection reaches the client at once (no retries, no redispatch).
    '  retries 0',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout check 1s',
    '',
  ];
  for (const l of listeners) {
    const http = l.backends.some((b) => b.checkPath);
    out.push(`listen ${l.name}`, `  bind ${l.bind}:${l.port}`, `  balance ${l.balance ?? 'roundrobin'}`);
    if (http) out.push(`  option httpchk GET ${l.backends[0]!.checkPath}`, '  http-check expect status 200');
    // Endpoints follow the signal within a few hundred ms either way, like the endpoints controller after a label flip.
    out.push('  default-server inter 200ms fastinter 200ms downinter 200ms fall 2 rise 1');
    for (const b of l.backends) out.push(`  server ${b.name} ${b.ip}:${b.port} check${b.checkPort ? ` port ${b.checkPort}` : ''}`);
    out.push('');
  }
  return out.join('\n');
}
