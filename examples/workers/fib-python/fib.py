"""A Fibonacci worker in the shape of IronWorker's Python tutorial.

IronWorker starts it as ``python fib.py -payload FILE -d TASK_DIR -id TASK_ID``; the payload
file holds the task's JSON. It prints the sequence between MAGICALSTDOUTSEPARATOR markers, so
a caller (or an ironship smoke test) can pick the result out of the log.
"""

import argparse
import json
import sys


def parse_args():
    # The same four arguments the tutorial's worker reads; anything else is an error.
    parser = argparse.ArgumentParser()
    parser.add_argument("-payload", dest="payload_file")
    parser.add_argument("-d", dest="task_dir")
    parser.add_argument("-e", dest="environment")
    parser.add_argument("-id", dest="task_id")
    return parser.parse_args()


def fibonacci(limit):
    """Every Fibonacci number below ``limit``, starting 1, 1, 2, ..."""
    seq = []
    a, b = 0, 1
    while b < limit:
        seq.append(b)
        a, b = b, a + b
    return seq


def main():
    args = parse_args()
    payload = {}
    if args.payload_file:
        with open(args.payload_file) as f:
            payload = json.load(f)
    limit = payload.get("max", 100) if isinstance(payload, dict) else None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        print(f"max must be a number, got {limit!r}", file=sys.stderr)
        return 1
    print("MAGICALSTDOUTSEPARATOR" + json.dumps(fibonacci(limit)) + "MAGICALSTDOUTSEPARATOR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
