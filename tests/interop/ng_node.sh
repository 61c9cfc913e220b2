# SPDX-License-Identifier: BSD-3-Clause
# ng_node.sh: sourced by the interop scripts that run Neuroglancer's own code in node.
# ng_node_install DIR SRC: make sure DIR holds npm neuroglancer as SRC/neuroglancer/package.json
# pins it (installed on first use); exits 77 (skip) when node/npm are missing or the install
# fails.
ng_node_install() {
    if [ -d "$1/node_modules/neuroglancer" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        echo "SKIP: node/npm not found"
        exit 77
    fi
    mkdir -p "$1"
    cp "$2/neuroglancer/package.json" "$1/"
    if ! (cd "$1" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error); then
        echo "SKIP: npm install of Neuroglancer failed"
        exit 77
    fi
}
