/**
 * The archive table (issue 16, SPEC §8): one row per message, keyed by (room_id, ms, seq) — the
 * two halves of the `<ms>-<seq>` id as bigints, so the primary key orders a room's messages
 * numerically and a page by room and id is an index range scan on it. `body` is the message as
 * acked (JSON). Messages are immutable: rows are only ever inserted.
 */
import type { MigrationBuilder } from 'node-pg-migrate'

export async function up (pgm: MigrationBuilder): Promise<void> {
  pgm.createTable('switchboard_messages', {
    room_id: { type: 'text', notNull: true },
    ms: { type: 'bigint', notNull: true },
    seq: { type: 'bigint', notNull: true },
    body: { type: 'jsonb', notNull: true },
    archived_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') }
  }, {
    constraints: { primaryKey: ['room_id', 'ms', 'seq'] }
  })
}

export async function down (pgm: MigrationBuilder): Promise<void> {
  pgm.dropTable('switchboard_messages')
}
