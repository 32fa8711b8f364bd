"""
A Socket.IO client nobody here wrote (Debian's python3-socketio 5.7), driven by the interop test:
one JSON command per stdin line, one JSON answer per stdout line. Commands:
  {"cmd": "connect", "url", "token"?, "transports", "namespace"?, "wait"?}
      -> {"ok": true} | {"ok": false, "connect_error": data}   (a refusal returns after `wait` s)
  {"cmd": "call", "event", "data"}                                 -> {"ok": true, "ack": <answer>}
  {"cmd": "emit", "event", "data"}                                 -> {"ok": true}  (no ack callback)
  {"cmd": "events"}                                                -> {"ok": true, "events": [[event, [args...]], ...]}
  {"cmd": "disconnect"}                                            -> {"ok": true}
Every server event is recorded with ALL its arguments: broadcasts carry the payload and, with
connection state recovery on, Socket.IO's recovery offset as a second argument.
"""
import json
import sys
import threading

import socketio

sio = None
events = []
refusals = []
lock = threading.Lock()


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def connect(c):
    global sio
    sio = socketio.Client(reconnection=False)
    ns = c.get("namespace", "/")

    def on_any(event, *args):
        with lock:
            events.append([event, list(args)])

    def on_connect_error(data=None):
        refusals.append(data)

    sio.on("*", on_any, namespace=ns)
    sio.on("connect_error", on_connect_error, namespace=ns)
    auth = {"token": c["token"]} if c.get("token") else None
    try:
        sio.connect(c["url"], auth=auth, transports=c["transports"], namespaces=[ns], wait_timeout=c.get("wait", 10))
    except socketio.exceptions.ConnectionError as e:
        return {"ok": False, "connect_error": refusals[-1] if refusals else None, "error": str(e)}
    return {"ok": True, "transport": sio.transport()}


def main():
    for line in sys.stdin:
        c = json.loads(line)
        try:
            if c["cmd"] == "connect":
                out(connect(c))
            elif c["cmd"] == "call":
                out({"ok": True, "ack": sio.call(c["event"], c["data"], timeout=10)})
            elif c["cmd"] == "emit":
                sio.emit(c["event"], c["data"])
                out({"ok": True})
            elif c["cmd"] == "events":
                with lock:
                    out({"ok": True, "events": list(events)})
            elif c["cmd"] == "disconnect":
                if sio is not None:
                    sio.disconnect()
                out({"ok": True})
        except Exception as e:  # the test sees the failure instead of a hang
            out({"ok": False, "error": repr(e)})


main()
