-- Copies one stored attempt log (list + state hash) into N builds' keys, for measuring Redis memory per 1,000 builds
-- (docs/logs.md "Redis layout"): redis-cli --eval load-tests/redis-log-memory.lua LIST STATE , N
local lines = redis.call('LRANGE', KEYS[1], 0, -1)
local state = redis.call('HGETALL', KEYS[2])
for i = 1, tonumber(ARGV[1]) do
  local key = 'buildfarm:logs:{build-' .. i .. '}:1'
  for j = 1, #lines, 500 do
    redis.call('RPUSH', key, unpack(lines, j, math.min(j + 499, #lines)))
  end
  redis.call('HSET', key .. ':state', unpack(state))
  redis.call('PEXPIRE', key, 604800000)
  redis.call('PEXPIRE', key .. ':state', 604800000)
end
return #lines
