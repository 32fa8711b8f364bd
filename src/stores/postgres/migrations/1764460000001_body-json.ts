/**
 * `body` as `json`, not `jsonb` (issue 16): PostgreSQL's jsonb refuses the escape `\u0000`
 * ("unsupported Unicode escape sequence"), which a message text may hold (SPEC §3 forbids no
 * character), and one such row failed its whole archive round — that room and every room in the
 * same INSERT stopped archiving until the backlog bound dropped messages. `json` keeps the text
 * as acked, byte for byte, and validates only its syntax; the archive never queries inside a
 * body but for the id (`->>` on a field without escapes). The conversion rewrites the table
 * once (an exclusive lock for its duration on an existing archive).
 */
import type { MigrationBuilder } from 'node-pg-migrate'

export async function up (pgm: MigrationBuilder): Promise<void> {
  pgm.alterColumn('switchboard_messages', 'body', { type: 'json', using: 'body::json' })
}

export async function down (pgm: MigrationBuilder): Promise<void> {
  pgm.alterColumn('switchboard_messages', 'body', { type: 'jsonb', using: 'body::jsonb' })
}
