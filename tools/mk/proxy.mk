# Data-plane benchmark: wrk on loopback through our proxy, nginx and HAProxy
# (Debian packages, installed by the script when missing), same upstream, same
# run; prints requests/s, latency, CPU per request, RSS and the ratios.
.PHONY: bench
bench: all
	tools/bench/bench_proxy.sh
