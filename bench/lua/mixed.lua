-- 80 % reads, 20 % writes, exactly: four GETs of the path given as the first
-- argument, then one POST /orders of the body given as the second, in turn.
local read, write
local sent = 0

function init(args)
  read = wrk.format("GET", args[1])
  write = wrk.format("POST", "/orders", {["Content-Type"] = "application/json"}, args[2])
end

function request()
  sent = sent + 1
  if sent % 5 == 0 then return write end
  return read
end
