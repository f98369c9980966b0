-- wrk script: round-robin over the tokens in $TOKENS (one per line), counting non-2xx answers.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/profile/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
