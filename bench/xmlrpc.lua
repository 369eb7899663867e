-- wrk script: supervisord's XML-RPC supervisor.getAllProcessInfo, the call
-- that lists every process (run.py points wrk at http://HOST:PORT/RPC2).
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"
wrk.body = '<?xml version="1.0"?>\n<methodCall>\n<methodName>supervisor.getAllProcessInfo</methodName>\n<params>\n</params>\n</methodCall>\n'
