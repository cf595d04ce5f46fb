-- 1 MiB blob upload, two-step flow (CNCF Distribution 2.8 ignores ?digest= on
-- POST and answers 202, so a single-POST monolithic upload cannot be used for
-- both registries):
--   POST /v2/<repo>/blobs/uploads/            -> 202 + Location
--   PUT  <Location>[?&]digest=sha256:...      -> 201 (1 MiB body)
-- Every connection alternates POST and PUT; wrk counts both as requests, so
-- uploads/s comes from the per-thread "created" counter, reported in done().
--
-- env: BENCH_LUA_DIR, BENCH_UPLOAD_DIR (holds digests.txt and <n>.bin files),
--      BENCH_UPLOAD_REPO (e.g. bench/upload)
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local dir = os.getenv("BENCH_UPLOAD_DIR")
local repo = os.getenv("BENCH_UPLOAD_REPO")

function init(args)
  created = 0
  accepted = 0
  bad = 0
  last_bad = ""
  pending = {}
  bodies = {}
  digests = {}
  local n = 0
  for line in io.lines(dir .. "/digests.txt") do
    n = n + 1
    digests[n] = line
    local f = assert(io.open(dir .. "/" .. n .. ".bin", "rb"))
    bodies[n] = f:read("*a")
    f:close()
  end
  nblobs = n
  -- spread threads over different blobs
  nextblob = (math.floor(os.clock() * 1000000) % n)
  post = wrk.format("POST", "/v2/" .. repo .. "/blobs/uploads/", {}, "")
end

function request()
  local loc = table.remove(pending)
  if loc == nil then
    return post
  end
  nextblob = nextblob % nblobs + 1
  local sep = "?"
  if string.find(loc, "?", 1, true) then
    sep = "&"
  end
  return wrk.format("PUT", loc .. sep .. "digest=" .. digests[nextblob],
    { ["Content-Type"] = "application/octet-stream" }, bodies[nextblob])
end

local function header(headers, name)
  for k, v in pairs(headers) do
    if string.lower(k) == name then
      return v
    end
  end
  return nil
end

function response(status, headers, body)
  if status == 202 then
    local loc = header(headers, "location")
    if loc == nil then
      bad = bad + 1
      last_bad = "202 without Location"
      return
    end
    loc = string.gsub(loc, "^https?://[^/]+", "")
    accepted = accepted + 1
    table.insert(pending, loc)
  elseif status == 201 then
    created = created + 1
  else
    bad = bad + 1
    last_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
  end
end

function extra_fields(ts)
  local c, a, b, lb = 0, 0, 0, ""
  for _, t in ipairs(ts) do
    c = c + t:get("created")
    a = a + t:get("accepted")
    b = b + t:get("bad")
    local l = t:get("last_bad")
    if l ~= nil and l ~= "" then lb = l end
  end
  lb = string.gsub(lb, '[%c"\\]', " ")
  return string.format(',"uploads_created":%d,"uploads_started":%d,"upload_bad":%d,"upload_last_bad":"%s"', c, a, b, lb)
end
