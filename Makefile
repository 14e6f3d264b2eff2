# Entry points a newcomer needs; the scripts hold the logic.
.PHONY: test demo crds envtest-start envtest-stop

## Lints and every test layer (starts the control plane and builds what is missing).
test:
	scripts/test.sh

## The whole cross-account flow on this machine, narrated (control plane, emulator, operator).
demo:
	scripts/demo.sh

## Regenerate crds/ and the chart's copy from the Rust types.
crds:
	cargo run --quiet -- crdgen --out-dir crds
	cargo run --quiet -- crdgen --out-dir charts/ram-operator/crds

envtest-start:
	@scripts/envtest.sh start

envtest-stop:
	@scripts/envtest.sh stop
