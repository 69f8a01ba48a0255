-- DELETE /orders/{id} for each id of the file named by the first argument,
-- once each: cancelling an order already cancelled is a cheap no-op, so every
-- request must meet a fresh confirmed order. Requests past the end of the file
-- go round again and are counted in `repeated`, which the harness reports.
local ids = {}
local sent = 0
repeated = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then ids[#ids + 1] = line end
  end
end

function request()
  sent = sent + 1
  if sent > #ids then repeated = repeated + 1 end
  return wrk.format("DELETE", "/orders/" .. ids[(sent - 1) % #ids + 1])
end
