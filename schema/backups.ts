// Values for pgBackRest: archiving, scheduled backups, point-in-time restore.
import { bool, obj, type Schema } from './dsl.ts';

export const backups: Record<string, Schema> = {
  backups: obj('pgBackRest: continuous WAL archiving and scheduled backups to S3-compatible storage.', {
    enabled: bool('Archive WAL and run scheduled backups (one stanza per shard).', false),
  }),
};
