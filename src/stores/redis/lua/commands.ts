/**
 * The scripts as ioredis commands, typed by augmenting ioredis' own RedisCommander (as in the
 * ioredis repository's examples/typescript/scripts.ts): the client, its pipelines and the
 * Cluster client all know them, so no cast stands between a call and Redis. Each command's
 * KEYS and ARGV are named at the top of its script module; the arguments here follow them.
 */
import type { Callback, ClientContext, RedisKey, RedisValue, Result } from 'ioredis'
import type { AppendCommand, AppendReply } from './append.js'
import type { ArchiveCommitReply, ArchiveReadReply } from './archive.js'
import type { SinceReply, SpanReply } from './history-reads.js'
import type { LimitReply } from './rate-limit.js'
import type { MarkReply } from './receipts.js'
import type { RoomReply, UserReadReply, UserReply } from './presence.js'
import type { BeatReply, ClaimReply, GoneReply, LiveReply } from './instances.js'

/** lua/append.ts: one command per composed variant; its arguments come from AppendVariant.args. */
type AppendCommands<Context extends ClientContext> = {
  [Name in AppendCommand]: (...keysThenArgv: RedisValue[]) => Result<AppendReply, Context>
}

declare module 'ioredis' {
  interface RedisCommander<Context> extends AppendCommands<Context> {
    /** lua/rate-limit.ts TAKE */
    sbRateTake: (bucket: RedisKey, burst: number, perSecond: number, callback?: Callback<LimitReply>) => Result<LimitReply, Context>
    /** lua/rate-limit.ts HIT */
    sbRateHit: (window: RedisKey, limit: number, windowMs: number, callback?: Callback<LimitReply>) => Result<LimitReply, Context>
    /** lua/receipts.ts MARK */
    sbReceiptMark: (receipts: RedisKey, stream: RedisKey, userId: string, messageId: string, deadline: string, callback?: Callback<MarkReply>) => Result<MarkReply, Context>
    /** lua/history-reads.ts SINCE */
    sbSince: (stream: RedisKey, meta: RedisKey, sinceId: string, count: number, callback?: Callback<SinceReply>) => Result<SinceReply, Context>
    /** lua/history-reads.ts SPAN */
    sbSpan: (stream: RedisKey, meta: RedisKey, callback?: Callback<SpanReply>) => Result<SpanReply, Context>
    /** lua/archive.ts: the key count, then pairs (stream, meta) per room, then the count per room */
    sbArchiveRead: (numberOfKeys: number, ...streamMetaPairsThenCount: RedisValue[]) => Result<ArchiveReadReply, Context>
    /** lua/archive.ts: the key count, dirty rooms, pairs (stream, meta) per room, max len, then pairs (room id, archived to or '') */
    sbArchiveCommit: (numberOfKeys: number, ...keysThenArgv: RedisValue[]) => Result<ArchiveCommitReply, Context>
    /** lua/presence.ts: a user's entries of one instance (`prefix`), then its socket ids */
    sbUserConnect: (conns: RedisKey, state: RedisKey, ttl: number, channel: string, userId: string, prefix: string, ...socketIds: string[]) => Result<UserReply, Context>
    sbUserDisconnect: (conns: RedisKey, state: RedisKey, ttl: number, channel: string, userId: string, prefix: string, ...socketIds: string[]) => Result<UserReply, Context>
    sbUserSync: (conns: RedisKey, state: RedisKey, ttl: number, channel: string, userId: string, prefix: string, ...socketIds: string[]) => Result<UserReply, Context>
    sbUserRead: (conns: RedisKey, state: RedisKey, ttl: number, callback?: Callback<UserReadReply>) => Result<UserReadReply, Context>
    /** lua/presence.ts: a room's entries of one instance, then pairs socket id, user id */
    sbRoomJoin: (roomConns: RedisKey, roomUsers: RedisKey, channel: string, roomId: string, prefix: string, ...pairs: string[]) => Result<RoomReply, Context>
    sbRoomLeave: (roomConns: RedisKey, roomUsers: RedisKey, channel: string, roomId: string, prefix: string, ...pairs: string[]) => Result<RoomReply, Context>
    sbRoomSync: (roomConns: RedisKey, roomUsers: RedisKey, channel: string, roomId: string, prefix: string, ...pairs: string[]) => Result<RoomReply, Context>
    /** lua/instances.ts */
    sbInstanceIndex: (indexUsers: RedisKey, indexRooms: RedisKey, userCount: number, ...usersThenRooms: string[]) => Result<'ok', Context>
    sbInstanceBeat: (instances: RedisKey, stats: RedisKey, instanceId: string, ttl: number, statsJson: string, callback?: Callback<BeatReply>) => Result<BeatReply, Context>
    sbOnlineAdd: (online: RedisKey, ttl: number, ...userIds: string[]) => Result<'ok', Context>
    sbOnlineRemove: (online: RedisKey, ttl: number, ...userIds: string[]) => Result<'ok', Context>
    sbInstancesDead: (instances: RedisKey, max: number, callback?: Callback<string[]>) => Result<string[], Context>
    sbInstanceClaim: (instances: RedisKey, lock: RedisKey, deadId: string, claimant: string, leaseMs: number, callback?: Callback<ClaimReply>) => Result<ClaimReply, Context>
    sbInstanceSwept: (instances: RedisKey, stats: RedisKey, lock: RedisKey, instanceId: string, callback?: Callback<GoneReply>) => Result<GoneReply, Context>
    sbInstanceLeave: (instances: RedisKey, stats: RedisKey, lock: RedisKey, instanceId: string, callback?: Callback<GoneReply>) => Result<GoneReply, Context>
    sbInstancesLive: (instances: RedisKey, stats: RedisKey, online: RedisKey, callback?: Callback<LiveReply>) => Result<LiveReply, Context>
  }
}
