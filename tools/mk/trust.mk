# tools/mk/trust.mk — targets of the trust work (mTLS control API, TLS server engine).
#
#   make bench-tls   full TLS handshakes/s, our data plane against nginx (tools/bench/bench_tls.sh)
#
# The fuzz harnesses tests/fuzz/fuzz_tls_server.c and fuzz_api_body.c and the regression test
# tests/regress/test_trust_curl.sh need no rule here: the Makefile picks up every
# tests/fuzz/fuzz_*.c (make replay, make fuzz) and tests/regress/test_*.sh (make regress).
.PHONY: bench-tls
bench-tls: $(DEPS)/stamp/done
	tools/bench/bench_tls.sh
