#!/usr/bin/env python3
"""Server memory per idle WebSocket connection (until natter-bench has a `connections`
scenario): starts a release `natter`, opens N gateway connections (one user each, realtime
token in the query), waits 2 s, and prints the server's RSS growth per connection.

    pip install websockets; cargo build --release -p natter-server
    python3 scripts/idle-connections.py 2000
"""
import asyncio, json, os, subprocess, sys, tempfile, time, urllib.request
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
BIN = os.environ.get("NATTER_BIN", os.path.expanduser("~/.cache/natter-target/release/natter"))
KEY = "nk_bench_key_0123456789abcdef"
data = tempfile.mkdtemp()
port = 18181
env = dict(os.environ, NATTER_API_KEYS=KEY, NATTER_JWT_SECRET="s"*40, NATTER_LISTEN=f"127.0.0.1:{port}", NATTER_DATA_DIR=data,
           NATTER_RATE_LIMITS__CREATE_CONVERSATION__COUNT="0", RUST_LOG="warn")
proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def rss():
    with open(f"/proc/{proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
def post(path, user):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", headers={"Authorization": f"Bearer {KEY}", "X-Natter-User": user})
    return json.load(urllib.request.urlopen(req))
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"); break
    except Exception: time.sleep(0.05)
import websockets
async def main():
    tokens = [post("/v1/realtime/token", f"u{i}")["token"] for i in range(N)]
    time.sleep(0.5)
    before = rss()
    conns = []
    t0 = time.time()
    for t in tokens:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime?token={t}", max_size=2**20)
        await ws.recv()
        conns.append(ws)
    elapsed = time.time() - t0
    await asyncio.sleep(2)
    after = rss()
    print(json.dumps({"connections": N, "rss_before_kb": before, "rss_after_kb": after, "kb_per_connection": round((after-before)/N, 2), "connect_s": round(elapsed, 2)}))
    for ws in conns: await ws.close()
asyncio.run(main())
proc.terminate()
