-- Gives up the lease if this node holds it, so another node takes over at
-- once instead of after the lease time. KEYS: 1 lease. ARGV: 1 node id.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
