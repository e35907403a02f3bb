# The per-VM REST API (docs/api.yaml) over its Unix socket: the contract's
# status codes and bodies, and hostile input (bad JSON, unknown fields,
# wrong methods, oversized bodies, garbage) that must get a 4xx while the
# VM keeps running.
import contextlib
import json
import os
import socket
import threading
import time

from mgmt_helpers import api, mgr, wait_for  # noqa: F401  (mgr is a fixture)


def vcpu_time(sock):
    st, _, stats = api(sock, "GET", "/vm/stats")
    assert st == 200
    return sum(v["cpu_time_ns"] for v in stats["vcpus"]), stats


def test_api_contract(mgr):
    mgr.define("a", cpus=2, memory="128M", rng=True, virtio_console=True)
    mgr.run("start", "a", check=True)
    sock = mgr.sock("a")
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"

    st, hdrs, vm = api(sock, "GET", "/vm")
    assert st == 200 and hdrs["content-type"] == "application/json"
    assert vm["name"] == "a" and vm["state"] == "running" and vm["pid"] == mgr.pid("a")
    assert vm["config"]["cpus"]["count"] == 2 and vm["config"]["memory"]["size"] == "128M"
    # Every default filled in (docs/config.md), as dumpconfig shows them.
    cfg, saved = vm["config"], json.loads(mgr.run("dumpconfig", "a", check=True).stdout)
    assert cfg["cpus"] == {"count": 2, "policy": "shared"}, cfg
    assert cfg["memory"] == {"size": "128M", "backing": "anon", "thp": True, "mergeable": False,
                             "prealloc": False, "dontdump": True}, cfg
    assert cfg["lifecycle"] == {"on_reboot": "restart"} and cfg["debug_exit"] is False, cfg
    assert cfg["uuid"] == saved["uuid"] and cfg["rng"] == saved["rng"], (cfg, saved)
    assert cfg["api_socket"] == sock and cfg["console"]["mode"] == "socket", cfg

    assert api(sock, "PUT", "/vm/pause")[0] == 204
    assert api(sock, "GET", "/vm")[2]["state"] == "paused"
    st, _, body = api(sock, "PUT", "/vm/pause")
    # The backend's precise message, not only a status (util/error.h).
    assert st == 409 and body["error"] == "pause: the VM is paused, not running", body
    assert api(sock, "PUT", "/vm/resume", body={})[0] == 204
    assert api(sock, "GET", "/vm")[2]["state"] == "running"

    # vCPU threads follow a resume asynchronously.
    assert wait_for(lambda: all(v["state"] == "running" for v in api(sock, "GET", "/vm/vcpus")[2]))
    st, _, vcpus = api(sock, "GET", "/vm/vcpus")
    assert st == 200 and [v["id"] for v in vcpus] == [0, 1]
    tids = set(int(t) for t in os.listdir(f"/proc/{mgr.pid('a')}/task"))
    for v in vcpus:
        assert v["tid"] in tids and v["state"] == "running"
        assert {"host_cpu", "cpu_time_ns", "affinity"} <= set(v)
    st, _, one = api(sock, "GET", "/vm/vcpus/1")
    assert st == 200 and one["id"] == 1 and "exits" in one
    assert api(sock, "GET", "/vm/vcpus/2")[0] == 404

    assert api(sock, "PUT", "/vm/vcpus/1/affinity", body={"cpus": "0"})[0] == 204
    assert os.sched_getaffinity(vcpus[1]["tid"]) == {0}
    st, _, aff = api(sock, "GET", "/vm/vcpus/1/affinity")
    assert st == 200 and aff == {"cpus": "0"}

    _, stats = vcpu_time(sock)
    assert len(stats["vcpus"]) == 2 and "exits" in stats["vcpus"][0]
    assert {"io", "mmio", "hlt", "total"} <= set(stats["vcpus"][0]["exits"])
    assert isinstance(stats["devices"], dict) and "totals" in stats
    # Keyed by stable component ids: the serial console and virtio-console
    # are two entries (both were "console" before, so one hid the other).
    assert {"pci-host", "serial0", "serial-console0", "i8042", "rtc", "acpi-pm",
            "virtio-rng0", "virtio-console0"} <= set(stats["devices"]), stats["devices"]
    assert "tx_bytes" in stats["devices"]["serial0"]
    assert "queues" in stats["devices"]["virtio-console0"]

    assert api(sock, "PUT", "/vm/reboot")[0] == 204
    assert api(sock, "GET", "/vm")[0] == 200
    mgr.run("destroy", "a", check=True)


def test_api_rejects_bad_input_and_vm_keeps_running(mgr):
    mgr.define("b", cpus=1, memory="64M")
    mgr.run("start", "b", check=True)
    sock = mgr.sock("b")
    pid = mgr.pid("b")

    st, _, body = api(sock, "PUT", "/vm/resume", raw_body="{not json")
    assert st == 400 and "invalid JSON" in body["error"]
    st, _, body = api(sock, "PUT", "/vm/pause", body={"force": True})
    assert st == 400 and body["error"] == 'unknown field "force"'
    st, _, body = api(sock, "PUT", "/vm/vcpus/0/affinity", body={"cpus": "x-y"})
    assert st == 400 and body["error"].startswith("cpus:")
    st, _, body = api(sock, "PUT", "/vm/vcpus/0/affinity", body={"cpus": "0", "extra": 1})
    assert st == 400
    st, _, body = api(sock, "PUT", "/vm/vcpus/0/affinity", raw_body="[1]")
    assert st == 400
    # A well-formed CPU list the host cannot honour: the kernel's refusal, named.
    st, _, body = api(sock, "PUT", "/vm/vcpus/0/affinity", body={"cpus": [1000]})
    assert st == 400 and body["error"] == \
        "vCPU 0: cannot pin to CPUs 1000: Invalid argument", body
    st, _, body = api(sock, "PUT", "/vm/resume")
    assert st == 409 and body["error"] == "resume: the VM is running, not paused", body
    st, hdrs, body = api(sock, "POST", "/vm")
    assert st == 405 and hdrs["allow"] == "GET"
    st, hdrs, _ = api(sock, "GET", "/vm/pause")
    assert st == 405 and hdrs["allow"] == "PUT"
    st, hdrs, _ = api(sock, "DELETE", "/vm/vcpus/0/affinity")
    assert st == 405 and hdrs["allow"] == "GET, PUT"
    assert api(sock, "GET", "/nothing")[0] == 404
    assert api(sock, "GET", "/vm/vcpus/99/affinity")[0] == 404
    # The server answers 413 without reading the body, so the send may break.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.settimeout(5)
    try:
        s.sendall(b"PUT /vm/resume HTTP/1.1\r\nHost: x\r\nContent-Length: 100002\r\n\r\n{"
                  + b" " * 100000 + b"}")
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = b""
    with contextlib.suppress(ConnectionResetError, socket.timeout):
        while True:
            d = s.recv(4096)
            if not d:
                break
            reply += d
    s.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b'"error"' in reply

    # Raw garbage and a client that stalls mid-request.
    # libmicrohttpd answers a malformed request line with 400 or just closes.
    for junk in (b"GET /vm\r\n\r\n", b"GARBAGE\r\n\r\n"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(junk)
        s.settimeout(5)
        reply = s.recv(4096)
        s.close()
        assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply
    stall = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stall.connect(sock)
    stall.sendall(b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
    nul = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    nul.connect(sock)
    nul.sendall(b"\x00\x01garbage\r\n\r\n")

    # The stalled client blocks nobody: the event loop keeps serving.
    t0 = time.time()
    assert api(sock, "GET", "/vm")[2]["state"] == "running"
    assert time.time() - t0 < 2
    stall.close()
    nul.close()
    assert os.path.exists(f"/proc/{pid}") and mgr.state_of("b") == "running"
    mgr.run("destroy", "b", check=True)


def test_api_many_clients(mgr):
    mgr.define("c", cpus=1, memory="64M")
    mgr.run("start", "c", check=True)
    sock = mgr.sock("c")
    codes = []

    def worker():
        for _ in range(20):
            codes.append(api(sock, "GET", "/vm")[0])

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert codes == [200] * 160
    mgr.run("destroy", "c", check=True)
    assert not os.path.exists(sock)
