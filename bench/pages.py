"""Static metrics pages served by the nginx fleet: realistic Prometheus text of N lines."""

import random


def page(lines: int) -> str:
    """A text exposition of exactly `lines` lines (HELP/TYPE comments included)."""
    rnd = random.Random(lines)
    out = [
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
        "# TYPE process_cpu_seconds_total counter",
        "process_cpu_seconds_total 12.47",
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        "process_resident_memory_bytes 2.1504e+07",
        "# HELP http_requests_total Total HTTP requests by status code and method.",
        "# TYPE http_requests_total counter",
        'http_requests_total{code="200",method="get"} 18231',
        'http_requests_total{code="404",method="get"} 12',
        'http_requests_total{code="500",method="post"} 3',
        "# HELP http_request_duration_seconds Latency of HTTP requests.",
        "# TYPE http_request_duration_seconds histogram",
    ]
    for le in ("0.05", "0.1", "0.5", "1", "+Inf"):
        out.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {rnd.randint(15000, 18246)}')
    out += ["http_request_duration_seconds_sum 412.7", "http_request_duration_seconds_count 18246"]
    # Larger pages: per-handler histograms and per-device node-exporter style gauges.
    fam = 0
    while len(out) < lines:
        fam += 1
        if fam % 2:
            name = f"app_handler_{fam}_duration_seconds"
            out += [f"# HELP {name} Duration of handler {fam}.", f"# TYPE {name} histogram"]
            for h in ("/api/v1/query", "/api/v1/series", "/metrics", "/healthz"):
                acc = 0
                for le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"):
                    acc += rnd.randint(0, 900)
                    out.append(f'{name}_bucket{{handler="{h}",le="{le}"}} {acc}')
                out.append(f'{name}_sum{{handler="{h}"}} {rnd.random() * 100:.6f}')
                out.append(f'{name}_count{{handler="{h}"}} {acc}')
        else:
            name = f"node_disk_io_{fam}_bytes_total"
            out += [f"# HELP {name} Bytes moved by device.", f"# TYPE {name} counter"]
            for d in ("sda", "sdb", "nvme0n1", "nvme1n1", "dm-0", "dm-1"):
                out.append(f'{name}{{device="{d}"}} {rnd.randint(10**6, 10**12)}')
    return "\n".join(out[:lines]) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(page(int(sys.argv[1])))
