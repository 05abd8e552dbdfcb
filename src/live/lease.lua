-- Takes or renews the lease of the leading node and returns its epoch
-- (the fencing number every write carries), or -1 while another node
-- holds the lease.
--
-- KEYS: 1 lease, 2 epoch, 3 meta (hash)
-- ARGV: 1 this node's id, 2 lease time in ms, 3 the epoch this node last
--       held ('' if none)
--
-- A node that lost its lease only because Redis was unreachable for a
-- while, and finds that nobody took over meanwhile, carries on with the
-- same epoch: its state in memory is still the truth. Any other taker
-- starts a new epoch, which fences out every earlier holder.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
if holder then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('GET', KEYS[2])
if ARGV[3] ~= '' and epoch == ARGV[3] then
  return tonumber(epoch)
end
redis.call('HSET', KEYS[3], 'seq', 0, 'journal_id', '')
return redis.call('INCR', KEYS[2])
