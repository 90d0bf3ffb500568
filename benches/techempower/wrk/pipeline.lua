-- wrk script: sends DEPTH requests (the first script argument, default 1) in one write, as
-- the TechEmpower plaintext test does with 16.
local batch

init = function(args)
  local depth = tonumber(args[1]) or 1
  local parts = {}
  for i = 1, depth do
    parts[i] = wrk.format()
  end
  batch = table.concat(parts)
end

request = function()
  return batch
end
