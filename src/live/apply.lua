-- Applies one batch of the leading node's changes to the live state, and
-- appends its records to the journal, all or nothing.
--
-- KEYS: 1 epoch, 2 journal (stream), 3 meta (hash), 4 tasks (hash), 5 agents (hash)
-- ARGV: 1 the writer's epoch, 2 the batch's sequence number in that epoch,
--       3 the records as JSON ('' for none), then operations:
--       'T' task value  set a live task's state
--       'D' task        a task left the live state
--       'A' agent value set an agent's status
--       'X'             clear tasks and agents (a new leader's snapshot follows)
--
-- Fencing: a node whose epoch is no longer current (another node took the
-- lease) is refused, so a node that was paused past its lease cannot write.
-- A batch already applied (a retry after a lost reply) is not applied twice:
-- its journal id is returned again.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the epoch moved on')
end
local seq = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
if seq <= last then
  return redis.call('HGET', KEYS[3], 'journal_id') or ''
end
local id = ''
if ARGV[3] ~= '' then
  id = redis.call('XADD', KEYS[2], '*', 'epoch', ARGV[1], 'records', ARGV[3])
end
local i = 4
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'T' then
    redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'D' then
    redis.call('HDEL', KEYS[4], ARGV[i + 1])
    i = i + 2
  elseif op == 'A' then
    redis.call('HSET', KEYS[5], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'X' then
    redis.call('DEL', KEYS[4], KEYS[5])
    i = i + 1
  else
    return redis.error_reply('unknown operation ' .. tostring(op))
  end
end
redis.call('HSET', KEYS[3], 'seq', seq, 'journal_id', id)
return id
