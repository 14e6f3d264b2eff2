# Entry points a newcomer needs; the scripts hold the logic.
.PHONY: test soak fuzz demo bench crds envtest-start envtest-stop

## Lints and every test layer (starts the control plane and builds what is missing).
test:
	scripts/test.sh

## The long fault run, schema fuzz and fuzzing (SOAK_MINUTES, default 30; see scripts/soak.sh).
soak:
	scripts/soak.sh

## Every cargo-fuzz target for FUZZ_SECONDS each (default 25; nightly toolchain).
fuzz:
	scripts/fuzz.sh

## The whole cross-account flow on this machine, narrated (control plane, emulator, operator).
demo:
	scripts/demo.sh

## Scale benchmark of the StsGrant controller (not part of test): make bench BENCH_ARGS="--grants 10000".
bench:
	scripts/bench.sh $(BENCH_ARGS)

## Regenerate crds/ and the chart's copy from the Rust types.
crds:
	cargo run --quiet -- crdgen --out-dir crds
	cargo run --quiet -- crdgen --out-dir charts/ram-operator/crds

envtest-start:
	@scripts/envtest.sh start

envtest-stop:
	@scripts/envtest.sh stop
