// Values for the connection poolers (PgBouncer per shard, or PgDog as the sharding router).
import { obj, oneOf, type Schema } from './dsl.ts';

export const pooler: Record<string, Schema> = {
  pooler: obj('Connection pooler in front of every shard.', {
    type: oneOf('`pgbouncer`: read-write and read-only PgBouncer per shard; `pgdog`: one sharding-aware PgDog router; `none`: bring your own.', ['pgbouncer', 'pgdog', 'none'], 'pgbouncer'),
  }),
};
