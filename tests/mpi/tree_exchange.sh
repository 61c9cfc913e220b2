#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tree_exchange.sh TREE_EXCHANGE_RANKS: the downsample tree's exchange rounds under mpirun with
# 1, 2, 3 and 7 ranks reading the state files five ranks of an earlier run left (fewer and more
# ranks than wrote them), skewed towards rank 0, in rounds of two records.
source "$(dirname "$0")/lib.sh"
for n in 1 2 3 7; do
    mkdir "d$n"
    mpirun -n "$n" "$CVMPI" "d$n" > "log$n" 2>&1 || { cat "log$n"; fail "-n $n"; }
    grep -qx "tree exchange on $n ranks: ok" "log$n" || { cat "log$n"; fail "-n $n: no ok line"; }
done
echo "tree_exchange: ok"
