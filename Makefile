# Entry points a newcomer needs; the scripts hold the logic.
.PHONY: test demo crds envtest-start envtest-stop bench

## Lints and every test layer (starts the control plane and builds what is missing).
test:
	scripts/test.sh

## Scale benchmark of the StsGrant controller (not part of test): make bench BENCH_ARGS="--grants 10000".
bench:
	scripts/bench.sh $(BENCH_ARGS)

## Regenerate crds/ from the Rust types.
crds:
	cargo run --quiet -- crdgen --out-dir crds

envtest-start:
	@scripts/envtest.sh start

envtest-stop:
	@scripts/envtest.sh stop
