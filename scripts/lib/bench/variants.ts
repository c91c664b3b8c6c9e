// Chart configurations the bench can run: helm --set on top of `shards=1` (and the user's --set).

export const VARIANTS: Record<string, { short: string; title: string; set: Record<string, string | boolean> }> = {
  tls: {
    short: 'TLS',
    title:
      'TLS everywhere, the chart default (`tls.enabled=true`: pg_hba `hostssl`, `server_tls_sslmode = verify-full`, `client_tls_sslmode = require`; clients verify-full)',
    set: { 'tls.enabled': true },
  },
  'tls-plain-clients': {
    short: 'TLS, plaintext to PgBouncer',
    title: 'TLS to the server only (`pooler.pgbouncer.clientTLS.sslmode=disable`: clients reach PgBouncer in plaintext, the chart default before 0.7.0)',
    set: { 'tls.enabled': true, 'pooler.pgbouncer.clientTLS.sslmode': 'disable' },
  },
  plain: { short: 'no TLS', title: 'no TLS (`tls.enabled=false`)', set: { 'tls.enabled': false } },
  'tls-addhost': {
    short: 'TLS, add_host=1',
    title: 'TLS with `pooler.pgbouncer.applicationNameAddHost=true` (`application_name_add_host = 1`, what the chart rendered before the value existed)',
    set: { 'tls.enabled': true, 'pooler.pgbouncer.applicationNameAddHost': true },
  },
};

export const shortName = (variant: string) => VARIANTS[variant]?.short ?? variant;
