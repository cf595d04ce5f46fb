-- Plain GET of the URL given to wrk (manifest by tag, 1 MiB blob); extra
-- headers such as Accept are passed with wrk -H. Only adds the reporting.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
