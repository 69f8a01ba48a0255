-- POST the JSON body given as the first argument (an order: one customer, two
-- products with stock enough for the whole run) to the URL's path.
function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
end
