"""`potkit serve`: the PoT service.

One asyncio event loop serves
- HTTP/1.1 with keep-alive and pipelining, parsed by the small
  HttpProtocol of http.py (no framework: per request it is a find, a few
  splits and one write; the crypto dominates, and one core serves about
  5,000 issue+verify requests per second);
- a TCP and a UDP endpoint for boards: a challenge frame in, a 143-byte
  challenge-mode record out.
The wire formats are in docs/spec.md sections 7.5 and 7.6.

Why one process: the verifier's replay cache must see every record; worker
processes behind SO_REUSEPORT would each have their own cache, and a record
could be accepted once per worker. Issuing and verifying are CPU work done
inline in the loop (tens of microseconds, shorter than a thread hand-off).
The timebase refreshes in its own thread (time sources are network I/O).

    routes      PotService: the routes and their work, transport-independent
    verify      ServiceVerifier and its partitioned HostNonceCache (the replay cache)
    metrics     the counters and timebase gauges of /metrics
    http        HTTP/1.1: HttpProtocol, HttpError, request-body helpers, responses
    board       the board endpoints: BoardTcpProtocol, BoardUdpProtocol, error codes
    connection  TrackedProtocol: what every connection shares (deadlines, flow control)
    server      Server (binding, connection caps, eviction, deadlines) and Listener

The command (`potkit serve`) is potkit.commands.serve.
"""
